import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { classColour, detectionsSvg, drawDetections, hsvToRgb, layoutTags, tagFontSize, tagSize, type ImageDetections, type Rect } from '../../src/infer/draw.js';
import { filterScore } from '../../src/infer/run.js';

function dets(boxes: number[], scores: number[], labels: number[]): ImageDetections {
  return { boxes: Float32Array.from(boxes), scores: Float32Array.from(scores), labels: Int32Array.from(labels) };
}

async function blackPng(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#000000' } }).png().toBuffer();
}

async function rgbAt(png: Buffer): Promise<(x: number, y: number) => number[]> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return (x, y) => Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3));
}

describe('classColour', () => {
  it('steps hues by the golden angle at s = 0.85, v = 0.95', () => {
    // label 0: hue 0 -> c = 0.95 * 0.85 = 0.8075, m = 0.95 - 0.8075 = 0.1425;
    // r = (c + m) * 255 = 242.25 -> 242 (f2), g = b = m * 255 = 36.34 -> 36 (24).
    expect(classColour(0)).toBe('#f22424');
    // label 1: hue 137.508 -> sector 2 (0, c, x) with x = c * (1 - |137.508 / 60 mod 2 - 1|) = 0.8075 * 0.2918
    // = 0.2357; r = 36, g = 242, b = (0.2357 + 0.1425) * 255 = 96.4 -> 96 (60).
    expect(classColour(1)).toBe('#24f260');
    expect(hsvToRgb(240, 1, 1)).toEqual([0, 0, 255]);
    const colours = new Set(Array.from({ length: 80 }, (_, i) => classColour(i)));
    expect(colours.size).toBe(80);
  });
});

/** The label tags of an SVG from detectionsSvg: the filled rects followed by a text. */
function tagRects(svg: string): Rect[] {
  return [...svg.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="#[0-9a-f]{6}"[^>]*\/><text/g)].map((m) => ({
    x: Number(m[1]),
    y: Number(m[2]),
    width: Number(m[3]),
    height: Number(m[4]),
  }));
}

const overlap = (a: Rect, b: Rect): boolean => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

describe('detectionsSvg', () => {
  it('draws one box (on a contrasting edge) and tag per detection above the threshold, escaping names', () => {
    const svg = detectionsSvg(100, 80, dets([10, 20, 40, 50, 0, 0, 5, 5], [0.9, 0.1], [0, 1]), ['a&b', 'c'], {
      scoreThreshold: 0.3,
      lineWidth: 2,
      fontSize: 10,
    });
    expect(svg).toContain('width="100" height="80"');
    // #f22424 has luma 0.299 * 242 + 0.587 * 36 + 0.114 * 36 = 97.6 < 140: white text and a white edge (2 + 2 * 1 px)
    expect(svg).toContain('<rect x="10" y="20" width="30" height="30" fill="none" stroke="#ffffff" stroke-opacity="0.75" stroke-width="4"/>');
    expect(svg).toContain('<rect x="10" y="20" width="30" height="30" fill="none" stroke="#f22424" stroke-width="2"/>');
    expect(svg).toContain('a&amp;b 0.90');
    // Tag above the box: height = round(10 * 1.25) + 2 = 15 -> y = 20 - 15 = 5.
    expect(tagRects(svg)).toEqual([{ x: 10, y: 5, width: Math.ceil(8 * 10 * 0.6) + 6, height: 15 }]);
    expect(svg).not.toContain('c 0.10');
  });

  it('puts the tag below a box that touches the image top, and clips boxes to the image', () => {
    const svg = detectionsSvg(50, 50, dets([-5, 0, 60, 20], [0.5], [2]), ['x', 'y', 'z'], { lineWidth: 1, fontSize: 10 });
    expect(svg).toContain('<rect x="0" y="0" width="50" height="20" fill="none"');
    // no room above (0 - 15 < 0): below the box's bottom edge, y = 20, outside the object
    expect(tagRects(svg)[0]).toMatchObject({ x: 0, y: 20, height: 15 });
  });

  it('never lets the tags of overlapping boxes overlap each other', () => {
    // three boxes with the same top-left corner region: each tag wants (10, 5)
    const svg = detectionsSvg(200, 200, dets([10, 20, 100, 100, 12, 22, 90, 110, 14, 20, 80, 80], [0.9, 0.8, 0.7], [0, 1, 2]), ['cat', 'dog', 'bird'], { fontSize: 10 });
    const tags = tagRects(svg);
    expect(tags).toHaveLength(3);
    for (let i = 0; i < tags.length; i++) for (let j = i + 1; j < tags.length; j++) expect(overlap(tags[i]!, tags[j]!)).toBe(false);
    for (const t of tags) expect(t.x >= 0 && t.y >= 0 && t.x + t.width <= 200 && t.y + t.height <= 200).toBe(true);
  });

  it('draws at most maxDetections boxes, the best-scoring ones', () => {
    const svg = detectionsSvg(100, 100, dets([0, 0, 10, 10, 20, 20, 30, 30, 40, 40, 50, 50], [0.5, 0.9, 0.7], [0, 0, 0]), ['a'], { maxDetections: 2 });
    expect(tagRects(svg)).toHaveLength(2);
    expect(svg).toContain('a 0.90');
    expect(svg).toContain('a 0.70');
    expect(svg).not.toContain('a 0.50');
  });

  it('scales the tag font with the image: 8 px at 128 px, 19 px at 1333 x 800', () => {
    expect(tagFontSize(128)).toBe(8);
    expect(tagFontSize(800)).toBe(19);
    expect(tagFontSize(10_000)).toBe(28);
    expect(tagSize('cat 0.90', 10)).toEqual({ width: 48 + 6, height: 15 });
  });
});

describe('layoutTags', () => {
  it('takes above, then below, then inside, then stacks', () => {
    const size = { width: 20, height: 10 };
    // box 1 at the top edge (no room above) -> below (y 30); box 2 same place -> inside its top (y 0); box 3 -> stacked
    const tags = layoutTags(100, 100, [[0, 0, 50, 30], [0, 0, 50, 30], [0, 0, 50, 30]], [size, size, size]);
    expect(tags.map((t) => [t.x, t.y])).toEqual([[0, 30], [0, 0], [0, 10]]);
  });
});

describe('filterScore', () => {
  it('keeps the best maxDetections above the threshold, in their order', () => {
    const kept = filterScore(dets([0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4], [0.4, 0.9, 0.1, 0.6], [0, 1, 2, 3]), 0.3, 2);
    expect(Array.from(kept.labels)).toEqual([1, 3]);
    expect(Array.from(kept.boxes)).toEqual([1, 1, 2, 2, 3, 3, 4, 4]);
  });
});

describe('drawDetections', () => {
  it('paints box edges in the class colour and leaves the inside untouched', async () => {
    const png = await drawDetections(await blackPng(64, 64), dets([10, 20, 40, 50, 30, 30, 60, 60], [0.9, 0.2], [0, 1]), ['cat', 'dog'], {
      scoreThreshold: 0.3,
      lineWidth: 2,
      fontSize: 8,
    });
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 64]);
    const at = await rgbAt(png);
    // The 2 px stroke centred on x = 10 covers pixel columns 9 and 10 fully.
    expect(at(10, 35)).toEqual([242, 36, 36]);
    expect(at(39, 35)).toEqual([242, 36, 36]);
    expect(at(25, 35)).toEqual([0, 0, 0]);
    // The second box scores under the threshold: its right edge (x = 60) stays black.
    expect(at(59, 45)).toEqual([0, 0, 0]);
  });

  it('encodes JPEG when asked', async () => {
    const jpg = await drawDetections(await blackPng(32, 32), dets([], [], []), [], { format: 'jpeg' });
    expect((await sharp(jpg).metadata()).format).toBe('jpeg');
  });
});
