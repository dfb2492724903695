import sharp from 'sharp';

/** Detections of one image in its original pixels. */
export interface ImageDetections {
  /** [N * 4] xyxy boxes in the pixels of the original image. */
  boxes: Float32Array;
  /** [N] scores in 0..1, sorted or not. */
  scores: Float32Array;
  /** [N] contiguous labels 0..K-1. */
  labels: Int32Array;
}

export interface DrawOptions {
  /** Boxes scoring below this are not drawn. */
  scoreThreshold?: number;
  /** At most this many boxes, the best-scoring ones (default: all). */
  maxDetections?: number;
  /** Stroke width in pixels; by default it grows with the image (2 px at 600 px). */
  lineWidth?: number;
  /** Label font size in pixels; by default it grows with the image (see {@link tagFontSize}). */
  fontSize?: number;
  /** Tags read `name 0.87` (default) or just `name` (ground truth). */
  showScores?: boolean;
}

/** An axis-aligned rectangle in image pixels: left, top, width, height. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Font size of the label tags for an image whose shorter side is `side` pixels: 2.4 % of it, at least 8 px (a
 * tag still reads on a 128 px thumbnail) and at most 28 px. 128 px -> 8 px, 600 -> 14, 800 -> 19.
 */
export function tagFontSize(side: number): number {
  return Math.min(28, Math.max(8, Math.round(side * 0.024)));
}

/** Width of a tag holding `text`: DejaVu Sans averages about 0.6 em per character, plus padding. */
export function tagSize(text: string, fontSize: number): { width: number; height: number } {
  const pad = Math.max(2, Math.round(fontSize * 0.25));
  return { width: Math.ceil(text.length * fontSize * 0.6) + 2 * pad, height: Math.round(fontSize * 1.25) + 2 };
}

function overlaps(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/**
 * Places one tag per box, in the given order (best detection first, so it gets the best place), so that no two
 * tags overlap and each stays inside the image. Candidates, first free one wins: above the box's top-left corner
 * (outside the object), below its bottom-left corner, inside its top-left corner; then stacked upward above the
 * box, downward from its top, and slid right along its top row. When the image is too crowded for every tag, the last candidate is taken.
 * Pure geometry.
 * @param boxes xyxy boxes, clipped to the image.
 * @param sizes tag sizes, one per box.
 */
export function layoutTags(width: number, height: number, boxes: ReadonlyArray<readonly [number, number, number, number]>, sizes: ReadonlyArray<{ width: number; height: number }>): Rect[] {
  const placed: Rect[] = [];
  boxes.forEach(([x1, y1, , y2], i) => {
    const { width: w, height: h } = sizes[i]!;
    const fit = (x: number, y: number): Rect => ({ x: Math.min(Math.max(0, x), Math.max(0, width - w)), y: Math.min(Math.max(0, y), Math.max(0, height - h)), width: w, height: h });
    const candidates: Rect[] = [];
    if (y1 - h >= 0) candidates.push(fit(x1, y1 - h));
    if (y2 + h <= height) candidates.push(fit(x1, y2));
    candidates.push(fit(x1, y1));
    // stacked upward from above the box, then downward from its top, then slid right along the top row
    const top = y1 - h >= 0 ? y1 - h : y1;
    for (let y = top - h; y >= 0; y -= h) candidates.push(fit(x1, y));
    for (let y = top + h; y + h <= height; y += h) candidates.push(fit(x1, y));
    for (let x = x1 + w; x + w <= width; x += w) candidates.push(fit(x, top));
    const free = candidates.find((c) => placed.every((p) => !overlaps(c, p)));
    placed.push(free ?? candidates[0]!);
  });
  return placed;
}

/**
 * A colour per class, far apart for neighbouring labels: hues step by the golden angle (137.5 degrees), with
 * fixed saturation 0.85 and value 0.95. Returns `#rrggbb`.
 */
export function classColour(label: number): string {
  const hue = (label * 137.508) % 360;
  const [r, g, b] = hsvToRgb(hue, 0.85, 0.95);
  return `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** HSV (h in degrees, s and v in 0..1) to 0..255 RGB. */
export function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const c = v * s;
  const hp = (((h % 360) + 360) % 360) / 60;
  const x = c * (1 - Math.abs((hp % 2) - 1));
  const sector = Math.floor(hp);
  const [r1, g1, b1] = [
    [c, x, 0],
    [x, c, 0],
    [0, c, x],
    [0, x, c],
    [x, 0, c],
    [c, 0, x],
  ][sector]!;
  const m = v - c;
  return [r1! + m, g1! + m, b1! + m].map((u) => Math.round(u * 255)) as [number, number, number];
}

/** Black or white, whichever reads better on `hex` (ITU-R BT.601 luma). */
function textColourOn(hex: string): string {
  const n = Number.parseInt(hex.slice(1), 16);
  const luma = 0.299 * ((n >> 16) & 255) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255);
  return luma > 140 ? '#000000' : '#ffffff';
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/**
 * An SVG the size of the image with one box per detection: the class colour on a darker or lighter edge (whichever
 * contrasts with it), so the box reads on any object; then a filled label tag (`name 0.87`) per box, placed by
 * {@link layoutTags} so tags never cover each other and sit outside the object when there is room. Tags are drawn
 * after every box, so no box line crosses a tag. Pure: no image I/O.
 */
export function detectionsSvg(
  width: number,
  height: number,
  detections: ImageDetections,
  classNames: readonly string[],
  options: DrawOptions = {},
): string {
  const threshold = options.scoreThreshold ?? 0;
  const side = Math.min(width, height);
  const lineWidth = options.lineWidth ?? Math.max(1, Math.round(side / 300));
  const fontSize = options.fontSize ?? tagFontSize(side);
  const best = Array.from(detections.scores.keys())
    .filter((i) => detections.scores[i]! >= threshold)
    .sort((a, b) => detections.scores[b]! - detections.scores[a]! || a - b)
    .slice(0, options.maxDetections ?? Number.POSITIVE_INFINITY);
  const clamp = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
  const boxes = best.map(
    (i) =>
      [
        clamp(detections.boxes[4 * i]!, width),
        clamp(detections.boxes[4 * i + 1]!, height),
        clamp(detections.boxes[4 * i + 2]!, width),
        clamp(detections.boxes[4 * i + 3]!, height),
      ] as const,
  );
  const texts = best.map((i) => {
    const name = classNames[detections.labels[i]!] ?? `class ${detections.labels[i]}`;
    return options.showScores === false ? name : `${name} ${detections.scores[i]!.toFixed(2)}`;
  });
  const tags = layoutTags(width, height, boxes, texts.map((t) => tagSize(t, fontSize)));
  const edge = Math.max(1, Math.round(lineWidth / 2));
  const parts: string[] = [];
  // lower scores first, so the best boxes end up on top
  for (let j = best.length - 1; j >= 0; j--) {
    const colour = classColour(detections.labels[best[j]!]!);
    const [x1, y1, x2, y2] = boxes[j]!;
    const rect = `x="${f(x1)}" y="${f(y1)}" width="${f(x2 - x1)}" height="${f(y2 - y1)}" fill="none"`;
    parts.push(
      `<rect ${rect} stroke="${textColourOn(colour)}" stroke-opacity="0.75" stroke-width="${lineWidth + 2 * edge}"/>` +
        `<rect ${rect} stroke="${colour}" stroke-width="${lineWidth}"/>`,
    );
  }
  for (let j = best.length - 1; j >= 0; j--) {
    const colour = classColour(detections.labels[best[j]!]!);
    const tag = tags[j]!;
    const pad = Math.max(2, Math.round(fontSize * 0.25));
    parts.push(
      `<rect x="${f(tag.x)}" y="${f(tag.y)}" width="${tag.width}" height="${tag.height}" fill="${colour}" stroke="${textColourOn(colour)}" stroke-opacity="0.6" stroke-width="1"/>` +
        `<text x="${f(tag.x + pad)}" y="${f(tag.y + tag.height - Math.round(fontSize * 0.3) - 1)}" font-family="DejaVu Sans, sans-serif" ` +
        `font-size="${fontSize}" fill="${textColourOn(colour)}">${escapeXml(texts[j]!)}</text>`,
    );
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`
  );
}

function f(v: number): string {
  return Number(v.toFixed(2)).toString();
}

/**
 * Draws `detections` over an image (a path or encoded bytes) and encodes the result: PNG by default, JPEG
 * when `format` is 'jpeg'. The image keeps its stored orientation, the one COCO boxes refer to.
 */
export async function drawDetections(
  image: string | Buffer,
  detections: ImageDetections,
  classNames: readonly string[],
  options: DrawOptions & { format?: 'png' | 'jpeg' } = {},
): Promise<Buffer> {
  const base = sharp(image);
  const { width, height } = await base.metadata();
  if (!width || !height) throw new Error('image has no size');
  const svg = detectionsSvg(width, height, detections, classNames, options);
  const composed = base.composite([{ input: Buffer.from(svg), top: 0, left: 0 }]);
  return options.format === 'jpeg' ? composed.jpeg({ quality: 90 }).toBuffer() : composed.png().toBuffer();
}
