import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/index.js';
import { maxPool3x3s2, rowSumChunked, upsampleNearest2x, upsampleNearestTo } from '../../src/model/ops.js';
import { Rng } from '../../src/util/rng.js';

/** torch max_pool2d(3, 2, 1) by definition, NHWC, with the argmax (first max in scan order) of each window. */
function naiveMaxPool(x: Float32Array, [n, h, w, c]: number[]): { out: number[]; argmax: number[]; oh: number; ow: number } {
  const oh = Math.floor((h - 1) / 2) + 1;
  const ow = Math.floor((w - 1) / 2) + 1;
  const out: number[] = [];
  const argmax: number[] = [];
  for (let b = 0; b < n!; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let k = 0; k < c!; k++) {
          let best = -Infinity;
          let at = -1;
          for (let di = -1; di <= 1; di++)
            for (let dj = -1; dj <= 1; dj++) {
              const y = 2 * i + di;
              const xx = 2 * j + dj;
              if (y < 0 || y >= h! || xx < 0 || xx >= w!) continue;
              const idx = ((b * h! + y) * w! + xx) * c! + k;
              if (x[idx]! > best) {
                best = x[idx]!;
                at = idx;
              }
            }
          out.push(best);
          argmax.push(at);
        }
  return { out, argmax, oh, ow };
}

function randomInput(shape: [number, number, number, number], seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.normal());
}

describe('maxPool3x3s2', () => {
  for (const shape of [
    [2, 8, 8, 3],
    [2, 7, 5, 2],
    [1, 1, 1, 1],
    [1, 2, 3, 1],
  ] as [number, number, number, number][]) {
    it(`matches torch max_pool2d(3, 2, 1) forward and gradient on ${shape.join('x')}`, () => {
      const data = randomInput(shape, 7);
      const ref = naiveMaxPool(data, shape);
      const x = tf.tensor4d(data, shape);
      const y = maxPool3x3s2(x);
      expect(y.shape).toEqual([shape[0], ref.oh, ref.ow, shape[3]]);
      expect(Array.from(y.dataSync())).toEqual(ref.out.map((v) => Math.fround(v)));
      // Upstream gradient 1, 2, 3, ... per output: each lands on its window's argmax (random data, no ties).
      const dy = tf.tensor4d(Float32Array.from(ref.out, (_, i) => i + 1), y.shape);
      const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(maxPool3x3s2(t as tf.Tensor4D), dy)))(x);
      const expected = new Float32Array(data.length);
      ref.argmax.forEach((at, i) => (expected[at]! += i + 1));
      expect(Array.from(dx.dataSync())).toEqual(Array.from(expected));
      tf.dispose([x, y, dy, dx]);
    });
  }
});

describe('upsampleNearest2x', () => {
  it('repeats every pixel 2x2 and sums the gradient back, batch 2', () => {
    // [2, 1, 2, 1]: image 0 is (1, 2), image 1 is (3, 4).
    const x = tf.tensor4d([1, 2, 3, 4], [2, 1, 2, 1]);
    const y = upsampleNearest2x(x);
    expect(y.shape).toEqual([2, 2, 4, 1]);
    expect(Array.from(y.dataSync())).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    // dy = 0..15: pixel (b, 0, j) receives the four values of its 2x2 block.
    const dy = tf.tensor4d(Array.from({ length: 16 }, (_, i) => i), [2, 2, 4, 1]);
    const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(upsampleNearest2x(t as tf.Tensor4D), dy)))(x);
    // Image 0, pixel 0: 0 + 1 + 4 + 5 = 10; pixel 1: 2 + 3 + 6 + 7 = 18. Image 1: +8 each of 4 -> 42, 50.
    expect(Array.from(dx.dataSync())).toEqual([10, 18, 42, 50]);
    tf.dispose([x, y, dy, dx]);
  });

  it('to an odd size takes source index floor(d / 2), as torch interpolate(size) does', () => {
    const x = tf.tensor4d([1, 2, 3], [1, 1, 3, 1]);
    const y = upsampleNearestTo(x, 1, 5);
    expect(Array.from(y.dataSync())).toEqual([1, 1, 2, 2, 3]);
    expect(() => upsampleNearestTo(x, 1, 7)).toThrow(/not a 2x nearest upsample/);
    tf.dispose([x, y]);
  });
});

describe('rowSumChunked', () => {
  it('sums rows exactly on small integers and stays accurate on a million float32 terms on wasm', async () => {
    // Row 0: 1 + 2 + ... + 600 = 180300; row 1: 600 ones = 600 (crosses the 256 chunk with padding).
    const x = tf.tensor2d([...Array.from({ length: 600 }, (_, i) => i + 1), ...new Array<number>(600).fill(1)], [2, 600]);
    expect(Array.from(rowSumChunked(x).dataSync())).toEqual([180300, 600]);
    // 2^20 copies of 0.1 (float32 0.100000001490116): exact sum 104857.6015625; wasm's single float32 sum is off
    // by 1e-2 relative, the chunked one (three levels of 256) by ~4e-6.
    tf.dispose(x);
    await selectBackend('wasm');
    try {
      const n = 2 ** 20;
      const big = tf.fill([1, n], 0.1) as tf.Tensor2D;
      const exact = n * Math.fround(0.1);
      expect(Math.abs(tf.sum(big).dataSync()[0]! - exact) / exact).toBeGreaterThan(1e-3);
      expect(Math.abs(rowSumChunked(big).dataSync()[0]! - exact) / exact).toBeLessThan(1e-5);
      big.dispose();
    } finally {
      await selectBackend('cpu');
    }
  });
});
