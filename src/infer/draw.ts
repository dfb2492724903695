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
  /** Stroke width in pixels; by default it grows with the image (2 px at 600 px). */
  lineWidth?: number;
  /** Label font size in pixels; by default it grows with the image (13 px at 600 px). */
  fontSize?: number;
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
 * An SVG the size of the image with one outlined box per detection in its class colour, and a filled label tag
 * (`name 0.87`) above the box, or inside its top edge when the box touches the image top. Lower scores are drawn
 * first so the best detections end up on top. Pure: no image I/O.
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
  const fontSize = options.fontSize ?? Math.max(9, Math.round(side / 46));
  const order = Array.from(detections.scores.keys())
    .filter((i) => detections.scores[i]! >= threshold)
    .sort((a, b) => detections.scores[a]! - detections.scores[b]!);
  const parts: string[] = [];
  for (const i of order) {
    const label = detections.labels[i]!;
    const colour = classColour(label);
    const clamp = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
    const x1 = clamp(detections.boxes[4 * i]!, width);
    const y1 = clamp(detections.boxes[4 * i + 1]!, height);
    const x2 = clamp(detections.boxes[4 * i + 2]!, width);
    const y2 = clamp(detections.boxes[4 * i + 3]!, height);
    const name = classNames[label] ?? `class ${label}`;
    const text = `${name} ${detections.scores[i]!.toFixed(2)}`;
    parts.push(
      `<rect x="${f(x1)}" y="${f(y1)}" width="${f(x2 - x1)}" height="${f(y2 - y1)}" fill="none" ` +
        `stroke="${colour}" stroke-width="${lineWidth}"/>`,
    );
    // DejaVu Sans averages about 0.6 em per character.
    const tagWidth = Math.ceil(text.length * fontSize * 0.6) + 4;
    const tagHeight = fontSize + 4;
    const tagY = y1 - tagHeight >= 0 ? y1 - tagHeight : y1;
    const tagX = Math.min(x1, Math.max(0, width - tagWidth));
    parts.push(
      `<rect x="${f(tagX)}" y="${f(tagY)}" width="${tagWidth}" height="${tagHeight}" fill="${colour}"/>` +
        `<text x="${f(tagX + 2)}" y="${f(tagY + fontSize)}" font-family="DejaVu Sans, sans-serif" ` +
        `font-size="${fontSize}" fill="${textColourOn(colour)}">${escapeXml(text)}</text>`,
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
