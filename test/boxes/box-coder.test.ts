import { describe, expect, it } from 'vitest';
import { BBOX_XFORM_CLIP, decodeBoxes, encodeBoxes } from '../../src/boxes/box-coder.js';

const ONES = [1, 1, 1, 1] as const;

describe('encodeBoxes', () => {
  it('matches hand-computed deltas', () => {
    // anchor [0,0,10,10]: w = h = 10, centre (5, 5). gt [2,2,12,22]: w 10, h 20, centre (7, 12).
    // dx = (7 - 5) / 10 = 0.2; dy = (12 - 5) / 10 = 0.7; dw = log(10 / 10) = 0; dh = log(20 / 10) = log 2
    const d = encodeBoxes(new Float32Array([0, 0, 10, 10]), new Float32Array([2, 2, 12, 22]), ONES);
    expect(Array.from(d).map((v) => +v.toFixed(6))).toEqual([0.2, 0.7, 0, +Math.log(2).toFixed(6)]);
    // weights (10, 10, 5, 5) multiply: 2, 7, 0, 5 log 2
    const w = encodeBoxes(new Float32Array([0, 0, 10, 10]), new Float32Array([2, 2, 12, 22]), [10, 10, 5, 5]);
    expect(w[0]).toBeCloseTo(2, 5);
    expect(w[1]).toBeCloseTo(7, 5);
    expect(w[2]).toBe(0);
    expect(w[3]).toBeCloseTo(5 * Math.log(2), 5);
  });

  it('rejects mismatched lengths', () => {
    expect(() => encodeBoxes(new Float32Array(4), new Float32Array(8), ONES)).toThrow('1 anchors but 2 boxes');
  });
});

describe('decodeBoxes', () => {
  it('inverts encodeBoxes (round trip)', () => {
    const anchors = new Float32Array([0, 0, 10, 10, -20, 5, 44, 37, 100, 100, 131, 200]);
    const gt = new Float32Array([2, 2, 12, 22, -10, 0, 30, 90, 90, 120, 150, 160]);
    for (const weights of [ONES, [10, 10, 5, 5] as const]) {
      const back = decodeBoxes(anchors, encodeBoxes(anchors, gt, weights), weights);
      back.forEach((v, i) => expect(v).toBeCloseTo(gt[i]!, 4));
    }
  });

  it('decodes zero deltas to the anchor itself', () => {
    expect(Array.from(decodeBoxes(new Float32Array([3, 4, 13, 24]), new Float32Array(4), ONES))).toEqual([3, 4, 13, 24]);
  });

  it('clips dw and dh at log(1000 / 16) before exp', () => {
    // anchor [0,0,10,10], dw = dh = 10 -> clipped: w = h = 10 * 1000 / 16 = 625 about centre 5 -> [-307.5, 317.5]
    expect(BBOX_XFORM_CLIP).toBeCloseTo(Math.log(62.5), 12);
    const box = decodeBoxes(new Float32Array([0, 0, 10, 10]), new Float32Array([0, 0, 10, 10]), ONES);
    expect(box[0]).toBeCloseTo(-307.5, 3);
    expect(box[2]).toBeCloseTo(317.5, 3);
    expect(box[1]).toBeCloseTo(-307.5, 3);
    // large negative dw is not clipped: exp(-10) * 10 = 4.54e-4 wide
    const small = decodeBoxes(new Float32Array([0, 0, 10, 10]), new Float32Array([0, 0, -10, 0]), ONES);
    expect(small[2]! - small[0]!).toBeCloseTo(10 * Math.exp(-10), 6);
  });
});
