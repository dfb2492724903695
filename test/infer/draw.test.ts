import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { classColour, detectionsSvg, drawDetections, hsvToRgb, type ImageDetections } from '../../src/infer/draw.js';

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

describe('detectionsSvg', () => {
  it('draws one box and tag per detection above the threshold, escaping names', () => {
    const svg = detectionsSvg(100, 80, dets([10, 20, 40, 50, 0, 0, 5, 5], [0.9, 0.1], [0, 1]), ['a&b', 'c'], {
      scoreThreshold: 0.3,
      lineWidth: 2,
      fontSize: 10,
    });
    expect(svg).toContain('width="100" height="80"');
    expect(svg.match(/stroke=/g)).toHaveLength(1);
    expect(svg).toContain('<rect x="10" y="20" width="30" height="30" fill="none" stroke="#f22424" stroke-width="2"/>');
    expect(svg).toContain('a&amp;b 0.90');
    // Tag above the box: height = fontSize + 4 = 14 -> y = 20 - 14 = 6.
    expect(svg).toContain('y="6"');
    expect(svg).not.toContain('c 0.10');
  });

  it('keeps a tag inside the image when the box touches the top edge, and clips boxes to the image', () => {
    const svg = detectionsSvg(50, 50, dets([-5, 0, 60, 20], [0.5], [2]), ['x', 'y', 'z'], { lineWidth: 1, fontSize: 10 });
    expect(svg).toContain('<rect x="0" y="0" width="50" height="20" fill="none"');
    // Tag y = box top (0), not -14.
    expect(svg).toMatch(/<rect x="0" y="0" width="\d+" height="14" fill="#/);
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
