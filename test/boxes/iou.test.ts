import { describe, expect, it } from 'vitest';
import { boxArea, pairwiseIoa, pairwiseIou } from '../../src/boxes/iou.js';

const A = new Float32Array([0, 0, 10, 10, /**/ 5, 5, 15, 15, /**/ 0, 0, 20, 20]);
const B = new Float32Array([0, 0, 10, 10, /**/ 5, 0, 15, 10, /**/ 20, 20, 30, 30, /**/ 2, 2, 4, 4]);

describe('boxArea', () => {
  it('is (x2 - x1) * (y2 - y1), no +1', () => {
    expect(Array.from(boxArea(A))).toEqual([100, 100, 400]);
    expect(Array.from(boxArea(new Float32Array([1, 2, 1, 9])))).toEqual([0]);
  });

  it('rejects a length that is not a multiple of 4', () => {
    expect(() => boxArea(new Float32Array(5))).toThrow('not a multiple of 4');
  });
});

describe('pairwiseIou', () => {
  it('computes a hand-checked 3x4 matrix, row-major', () => {
    // a0=[0,0,10,10] (area 100): b0 same box -> 1; b1=[5,0,15,10] overlaps 5x10=50 -> 50/(100+100-50) = 1/3;
    //   b2 disjoint -> 0; b3=[2,2,4,4] inside, 2x2=4 -> 4/(100+4-4) = 0.04.
    // a1=[5,5,15,15]: b0 overlaps 5x5=25 -> 25/175 = 1/7; b1 overlaps 10x5=50 -> 50/150 = 1/3; b2, b3 -> 0.
    // a2=[0,0,20,20] (area 400): b0, b1 inside -> 100/400 = 0.25; b2 touches at a corner -> 0; b3 -> 4/400.
    const iou = pairwiseIou(A, B);
    const expected = [1, 1 / 3, 0, 0.04, 1 / 7, 1 / 3, 0, 0, 0.25, 0.25, 0, 0.01];
    expect(iou.length).toBe(12);
    iou.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
  });

  it('handles empty inputs and empty boxes', () => {
    expect(pairwiseIou(new Float32Array(0), B).length).toBe(0);
    expect(pairwiseIou(A, new Float32Array(0)).length).toBe(0);
    // two zero-area boxes: union 0 -> 0, not NaN
    expect(Array.from(pairwiseIou(new Float32Array([3, 3, 3, 3]), new Float32Array([3, 3, 3, 3])))).toEqual([0]);
  });
});

describe('pairwiseIoa', () => {
  it('divides the intersection by the area of the first box (anchor inside a crowd region)', () => {
    // anchor [0,0,10,10] with crowd [0,0,5,10]: 50/100 = 0.5; anchor [0,0,20,20]: 50/400 = 0.125;
    // anchor [2,2,4,4] lies inside both crowds: 4/4 = 1 (its IoU with [0,0,100,100] would be only 4/10000).
    // Every anchor lies inside crowd [0,0,100,100]: 1.
    const anchors = new Float32Array([0, 0, 10, 10, 0, 0, 20, 20, 2, 2, 4, 4]);
    const crowd = new Float32Array([0, 0, 5, 10, 0, 0, 100, 100]);
    expect(Array.from(pairwiseIoa(anchors, crowd))).toEqual([0.5, 1, 0.125, 1, 1, 1]);
  });
});
