import { describe, expect, it } from 'vitest';
import { batchedNms, nms } from '../../src/boxes/nms.js';

describe('nms', () => {
  it('keeps boxes greedily in descending score', () => {
    // order by score: b0 .9, b3 .85, b1 .8, b2 .7
    // b0 kept; b1=[1,0,11,10] overlaps b0 by 9x10 = 90 -> IoU 90/110 = 0.82 > 0.5: suppressed
    // b3=[5,0,15,10] vs b0: 50/150 = 0.33: kept; b2 far away: kept
    const boxes = new Float32Array([0, 0, 10, 10, 1, 0, 11, 10, 20, 20, 30, 30, 5, 0, 15, 10]);
    const scores = new Float32Array([0.9, 0.8, 0.7, 0.85]);
    expect(Array.from(nms(boxes, scores, 0.5))).toEqual([0, 3, 2]);
    // at 0.3 b3 (0.33) is suppressed too
    expect(Array.from(nms(boxes, scores, 0.3))).toEqual([0, 2]);
  });

  it('suppresses only when IoU is strictly above the threshold', () => {
    // [0,0,10,10] and [0,0,10,5]: IoU = 50 / 100 = 0.5 exactly -> both kept at 0.5
    const boxes = new Float32Array([0, 0, 10, 10, 0, 0, 10, 5]);
    expect(Array.from(nms(boxes, new Float32Array([0.9, 0.8]), 0.5))).toEqual([0, 1]);
    expect(Array.from(nms(boxes, new Float32Array([0.9, 0.8]), 0.49))).toEqual([0]);
  });

  it('suppresses even disjoint boxes under a negative threshold, like torchvision', () => {
    // IoU 0 > -0.1: torchvision keeps only the best box ([1])
    const boxes = new Float32Array([0, 0, 10, 10, 50, 50, 60, 60]);
    expect(Array.from(nms(boxes, new Float32Array([0.5, 0.9]), -0.1))).toEqual([1]);
  });

  it('visits equal scores in index order', () => {
    const boxes = new Float32Array([0, 0, 10, 10, 0, 0, 10, 10, 50, 50, 60, 60]);
    expect(Array.from(nms(boxes, new Float32Array([0.5, 0.5, 0.5]), 0.5))).toEqual([0, 2]);
  });

  it('handles no boxes and rejects mismatched inputs', () => {
    expect(nms(new Float32Array(0), new Float32Array(0), 0.5).length).toBe(0);
    expect(() => nms(new Float32Array(8), new Float32Array(3), 0.5)).toThrow('2 boxes but 3 scores');
  });
});

describe('batchedNms', () => {
  it('suppresses only within a label and returns kept indices by descending score', () => {
    // b0, b1 identical boxes of different labels: both kept; b2 same box and label as b0 with a lower score: gone
    const boxes = new Float32Array([0, 0, 10, 10, 0, 0, 10, 10, 0, 0, 10, 10, 1, 1, 9, 9]);
    const scores = new Float32Array([0.6, 0.9, 0.5, 0.7]);
    const labels = new Int32Array([0, 1, 0, 1]);
    // label 1: b1 .9 kept, b3 (IoU 64/100 with b1) suppressed; label 0: b0 kept, b2 suppressed
    expect(Array.from(batchedNms(boxes, scores, labels, 0.5))).toEqual([1, 0]);
    expect(Array.from(batchedNms(boxes, scores, new Int32Array([0, 1, 2, 3]), 0.5))).toEqual([1, 3, 0, 2]);
    for (const method of ['per-class', 'offset'] as const) {
      expect(Array.from(batchedNms(boxes, scores, labels, 0.5, method))).toEqual([1, 0]);
    }
  });

  it('reproduces the float32 rounding of torchvision\'s coordinate-offset trick', () => {
    // [0,0,10,10] and [0,0,10,5.03] of label 1000: IoU 50.3 / 100 = 0.503 > 0.5, so per class the second goes.
    // With 3 boxes (<= 1000) torchvision shifts label 1000 by 1000 * (1000 + 1) = 1001000, where float32 has a
    // 1/16 grid: 5.03 becomes 5.0, the IoU exactly 0.5, and the second box survives. torchvision 0.14:
    // _batched_nms_coordinate_trick -> [0, 1, 2], _batched_nms_vanilla -> [0, 2], batched_nms -> [0, 1, 2].
    const boxes = new Float32Array([0, 0, 10, 10, 0, 0, 10, 5.03, 990, 0, 1000, 10]);
    const scores = new Float32Array([0.9, 0.8, 0.1]);
    const labels = new Int32Array([1000, 1000, 0]);
    expect(Array.from(batchedNms(boxes, scores, labels, 0.5))).toEqual([0, 1, 2]);
    expect(Array.from(batchedNms(boxes, scores, labels, 0.5, 'offset'))).toEqual([0, 1, 2]);
    expect(Array.from(batchedNms(boxes, scores, labels, 0.5, 'per-class'))).toEqual([0, 2]);
  });

  it('runs per class above 1000 boxes, like torchvision on CPU', () => {
    // the same three boxes padded with 998 far-away ones of another label: 1001 boxes -> per class -> box 1 goes
    const n = 1001;
    const boxes = new Float32Array(n * 4);
    boxes.set([0, 0, 10, 10, 0, 0, 10, 5.03, 990, 0, 1000, 10]);
    for (let i = 3; i < n; i++) boxes.set([500 + i, 500, 501 + i, 501], 4 * i);
    const scores = Float32Array.from({ length: n }, (_, i) => (i < 3 ? [0.9, 0.8, 0.7][i]! : 0.01));
    const labels = Int32Array.from({ length: n }, (_, i) => (i < 2 ? 1000 : 0));
    const keep = Array.from(batchedNms(boxes, scores, labels, 0.5));
    expect(keep.slice(0, 2)).toEqual([0, 2]);
    expect(keep).not.toContain(1);
  });
});
