import { describe, expect, it } from 'vitest';
import {
  anchorsPerLevel,
  cellAnchors,
  generateAnchors,
  levelSizes,
  roundHalfEven,
  splitLevels,
} from '../../src/boxes/anchors.js';

describe('roundHalfEven', () => {
  it('rounds exact halves to the even neighbour like torch.round', () => {
    expect([22.5, 23.5, -22.5, -23.5, 0.5, 1.5, 2.4, -2.6].map(roundHalfEven)).toEqual([22, 24, -22, -24, 0, 2, 2, -3]);
  });
});

describe('cellAnchors', () => {
  it('builds size 32 at ratios 0.5, 1, 2 (ratio = h / w)', () => {
    // ratio 0.5: h = 32 * sqrt(.5) = 22.627, w = 32 / sqrt(.5) = 45.255 -> half sizes 11.31, 22.63 -> [-23, -11, 23, 11]
    // ratio 1:   32 x 32 -> [-16, -16, 16, 16]
    // ratio 2:   h = 45.255, w = 22.627 -> [-11, -23, 11, 23]
    expect(Array.from(cellAnchors(32, [1], [0.5, 1, 2]))).toEqual([-23, -11, 23, 11, -16, -16, 16, 16, -11, -23, 11, 23]);
  });

  it('truncates scaled sizes like torchvision: 32 * 2^(1/3) = 40.3 -> 40, 32 * 2^(2/3) = 50.8 -> 50', () => {
    const scales = [1, 2 ** (1 / 3), 2 ** (2 / 3)];
    expect(levelSizes(32, scales)).toEqual([32, 40, 50]);
    expect(levelSizes(64, scales)).toEqual([64, 80, 101]);
    // ratio 1 only: half sizes 16, 20, 25
    expect(Array.from(cellAnchors(32, scales, [1]))).toEqual([-16, -16, 16, 16, -20, -20, 20, 20, -25, -25, 25, 25]);
  });

  it('is ratio-major: all scales of the first ratio come first', () => {
    const cell = cellAnchors(32, [1, 2], [0.5, 2]);
    // ratio 0.5 x size 32 -> [-23,-11,23,11]; ratio 0.5 x size 64: w = 90.51, h = 45.25 -> [-45,-23,45,23]
    expect(Array.from(cell.subarray(0, 8))).toEqual([-23, -11, 23, 11, -45, -23, 45, 23]);
    expect(Array.from(cell.subarray(8, 12))).toEqual([-11, -23, 11, 23]);
  });

  it('rounds half sizes of odd sizes half to even: 45 / 2 = 22.5 -> 22, 47 / 2 = 23.5 -> 24', () => {
    expect(Array.from(cellAnchors(45, [1], [1]))).toEqual([-22, -22, 22, 22]);
    expect(Array.from(cellAnchors(47, [1], [1]))).toEqual([-24, -24, 24, 24]);
  });
});

describe('generateAnchors', () => {
  it('orders level, then y, then x, then cell anchor, with stride = padded // grid and no half-stride offset', () => {
    // image 64 (h) x 48 (w), grid 2 x 3 -> strides 32 (y) and 16 (x); one cell anchor [-8,-8,8,8]
    const anchors = generateAnchors({
      sizes: [16], scales: [1], aspectRatios: [1], imageHeight: 64, imageWidth: 48, featureSizes: [[2, 3]],
    });
    expect(Array.from(anchors)).toEqual([
      -8, -8, 8, 8, /* y0 x0 */ 8, -8, 24, 8, /* y0 x1 */ 24, -8, 40, 8, /* y0 x2 */
      -8, 24, 8, 40, /* y1 x0 */ 8, 24, 24, 40, /* y1 x1 */ 24, 24, 40, 40, /* y1 x2 */
    ]);
  });

  it('uses floor division for strides: 320 px over a 3x3 grid gives stride 106', () => {
    const anchors = generateAnchors({
      sizes: [8], scales: [1], aspectRatios: [1], imageHeight: 320, imageWidth: 320, featureSizes: [[3, 3]],
    });
    // last cell (y2, x2): shift 212 -> [208, 208, 216, 216]
    expect(Array.from(anchors.subarray(32, 36))).toEqual([208, 208, 216, 216]);
  });

  it('concatenates levels P3 first and counts anchors per level', () => {
    const opts = {
      sizes: [32, 64], scales: [1, 2 ** (1 / 3), 2 ** (2 / 3)], aspectRatios: [0.5, 1, 2],
      imageHeight: 64, imageWidth: 64, featureSizes: [[8, 8], [4, 4]] as [number, number][],
    };
    const counts = anchorsPerLevel(opts);
    expect(counts).toEqual([8 * 8 * 9, 4 * 4 * 9]);
    const anchors = generateAnchors(opts);
    expect(anchors.length).toBe((576 + 144) * 4);
    const [p3, p4] = splitLevels(anchors, counts, 4);
    expect(Array.from(p3!.subarray(0, 4))).toEqual([-23, -11, 23, 11]);
    // P4 first anchor: size 64 ratio 0.5 -> w = 90.51, h = 45.25 -> [-45, -23, 45, 23]
    expect(Array.from(p4!.subarray(0, 4))).toEqual([-45, -23, 45, 23]);
  });

  it('rejects mismatched sizes and feature maps', () => {
    expect(() =>
      generateAnchors({ sizes: [32], scales: [1], aspectRatios: [1], imageHeight: 8, imageWidth: 8, featureSizes: [] }),
    ).toThrow('1 sizes for 0 feature maps');
  });
});
