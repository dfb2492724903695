/**
 * Each kernel repair against the cpu kernel or a float64 reference, and the kernels they replace shown
 * missing or wrong first (removeRepairs puts the backend's own kernel back).
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { installRepairs, installedRepairs, removeRepairs, selectBackend } from '../../src/backend/index.js';
import { addNGrouped } from '../../src/backend/repairs/add-n.js';
import { padByConcat } from '../../src/backend/repairs/pad-high-rank.js';
import { collapseSlice } from '../../src/backend/repairs/slice-high-rank.js';
import { upsampleNearest2x } from '../../src/model/ops.js';
import { Rng } from '../../src/util/rng.js';
import { relError } from './gradcheck.js';
import { testBackends } from '../helpers.js';
import { conv2dRef, maxPoolRef, numericGrad, randn, upsample2xRef, type Arr } from './reference.js';

// The webgpu cases run when PSDET_BACKENDS names webgpu (.ci/webgpu); named but unable to start, they fail.
const webgpu = testBackends().includes('webgpu');
const WEBGPU_SKIP = webgpu ? '' : '(skipped: PSDET_BACKENDS does not name webgpu)';

afterAll(async () => {
  await selectBackend('cpu');
});

const t = (a: Arr) => tf.tensor(Float32Array.from(a.data), a.shape);

/** d/dx sum(f(x) * w) on the active backend. */
function gradOf(f: (x: tf.Tensor) => tf.Tensor, x: Arr, w: Arr): Float32Array {
  return tf.tidy(() => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), t(w))))(t(x)).dataSync() as Float32Array);
}

/** Runs `f` with the backend's own kernels, then puts the repairs back. */
function withOwnKernels<T>(backend: string, f: () => T): T {
  removeRepairs(backend);
  try {
    return f();
  } finally {
    installRepairs(backend);
  }
}

describe('wasm MaxPoolGrad', () => {
  it('is wrong for batch 2 x 3 channels before the repair and right after', async () => {
    await selectBackend('wasm');
    const rng = new Rng(21);
    const x = randn(rng, [2, 6, 6, 3]);
    const pool = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 3, 2, 1);
    const w = randn(rng, [2, 3, 3, 3]);
    const expected = numericGrad(([a]) => maxPoolRef(a!, 3, 2, [1, 1, 1, 1]), [x], 0, w.data);
    const own = withOwnKernels('wasm', () => gradOf(pool, x, w));
    const repaired = gradOf(pool, x, w);
    expect(relError(own, expected)).toBeGreaterThan(0.1);
    expect(relError(repaired, expected)).toBeLessThan(1e-5);
  });

  it('agrees with the cpu kernel when windows tie (first maximum wins)', async () => {
    // Every value equal: in each 3x3 window the first valid position takes the whole gradient.
    const x = { shape: [1, 4, 4, 2], data: new Float64Array(32).fill(1) };
    const w = randn(new Rng(22), [1, 2, 2, 2]);
    const pool = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 3, 2, 1);
    await selectBackend('cpu');
    const cpu = gradOf(pool, x, w);
    await selectBackend('wasm');
    expect(Array.from(gradOf(pool, x, w))).toEqual(Array.from(cpu));
  });
});

describe('wasm Conv2DBackpropFilter', () => {
  it('is missing before the repair and matches float64 after (3x3 stride 2 pad 1, 7x7 stride 2 pad 3)', async () => {
    await selectBackend('wasm');
    const rng = new Rng(23);
    for (const [k, s, p, size] of [
      [3, 2, 1, 6],
      [7, 2, 3, 9],
      [1, 1, 0, 4],
    ] as const) {
      const x = randn(rng, [2, size, size, 3]);
      const filter = randn(rng, [k, k, 3, 4]);
      const y = conv2dRef(x, filter, s, [p, p, p, p]);
      const w = randn(rng, y.shape);
      const conv = (f: tf.Tensor) => tf.conv2d(t(x) as tf.Tensor4D, f as tf.Tensor4D, s, [[0, 0], [p, p], [p, p], [0, 0]]);
      expect(() => withOwnKernels('wasm', () => gradOf(conv, filter, w))).toThrow(/Conv2DBackpropFilter/);
      const expected = numericGrad(([f]) => conv2dRef(x, f!, s, [p, p, p, p]), [filter], 0, w.data);
      expect(relError(gradOf(conv, filter, w), expected)).toBeLessThan(1e-5);
    }
  });
});

describe('wasm Conv2DBackpropInput', () => {
  it('the repaired (phase-decomposed) kernel and the own kernel both match float64', async () => {
    await selectBackend('wasm');
    const rng = new Rng(24);
    for (const [k, s, p, size] of [
      [3, 2, 1, 7],
      [3, 1, 1, 5],
      [1, 2, 0, 6],
      [5, 3, 2, 8],
    ] as const) {
      const x = randn(rng, [2, size, size, 3]);
      const filter = randn(rng, [k, k, 3, 2]);
      const y = conv2dRef(x, filter, s, [p, p, p, p]);
      const w = randn(rng, y.shape);
      const conv = (a: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, t(filter) as tf.Tensor4D, s, [[0, 0], [p, p], [p, p], [0, 0]]);
      const expected = numericGrad(([a]) => conv2dRef(a!, filter, s, [p, p, p, p]), [x], 0, w.data);
      expect(relError(gradOf(conv, x, w), expected)).toBeLessThan(1e-5);
      expect(relError(withOwnKernels('wasm', () => gradOf(conv, x, w)), expected)).toBeLessThan(1e-5);
    }
  });
});

describe('wasm UnsortedSegmentSum (gradient of gather)', () => {
  it('is missing before the repair; after, repeated indices accumulate', async () => {
    await selectBackend('wasm');
    const x = { shape: [4, 2], data: Float64Array.from([0, 1, 2, 3, 4, 5, 6, 7]) };
    const w = { shape: [3, 2], data: Float64Array.from([1, 2, 3, 4, 5, 6]) };
    const gather = (a: tf.Tensor) => tf.gather(a, tf.tensor1d([2, 0, 2], 'int32'));
    expect(() => withOwnKernels('wasm', () => gradOf(gather, x, w))).toThrow(/UnsortedSegmentSum/);
    // row 0 gets w[1] = (3, 4); row 2 gets w[0] + w[2] = (1 + 5, 2 + 6); rows 1 and 3 get nothing
    expect(Array.from(gradOf(gather, x, w))).toEqual([3, 4, 0, 0, 6, 8, 0, 0]);
  });
});

describe('cpu ResizeNearestNeighborGrad', () => {
  it('is wrong for batch 2 before the repair and right after', async () => {
    await selectBackend('cpu');
    const rng = new Rng(25);
    const x = randn(rng, [2, 3, 2, 2]);
    const w = randn(rng, [2, 6, 4, 2]);
    const resize = (a: tf.Tensor) => tf.image.resizeNearestNeighbor(a as tf.Tensor4D, [6, 4]);
    const expected = numericGrad(([a]) => upsample2xRef(a!), [x], 0, w.data);
    expect(relError(withOwnKernels('cpu', () => gradOf(resize, x, w)), expected)).toBeGreaterThan(0.1);
    expect(relError(gradOf(resize, x, w), expected)).toBeLessThan(1e-5);
  });

  it('upsampleNearest2x gives the same values as resizeNearestNeighbor', async () => {
    await selectBackend('cpu');
    const x = randn(new Rng(26), [2, 3, 5, 4]);
    const a = tf.tidy(() => upsampleNearest2x(t(x) as tf.Tensor4D).dataSync());
    const b = tf.tidy(() => tf.image.resizeNearestNeighbor(t(x) as tf.Tensor4D, [6, 10]).dataSync());
    expect(Array.from(a)).toEqual(Array.from(b));
  });
});

describe('cpu Conv2DBackpropFilter', () => {
  it('the repaired kernel equals the own kernel (3x3 stride 2)', async () => {
    await selectBackend('cpu');
    const rng = new Rng(27);
    const x = randn(rng, [2, 7, 7, 3]);
    const filter = randn(rng, [3, 3, 3, 4]);
    const w = randn(rng, [2, 4, 4, 4]);
    const conv = (f: tf.Tensor) => tf.conv2d(t(x) as tf.Tensor4D, f as tf.Tensor4D, 2, 'same');
    const own = withOwnKernels('cpu', () => gradOf(conv, filter, w));
    expect(relError(gradOf(conv, filter, w), own)).toBeLessThan(1e-6);
  });
});

describe('webgpu PadV2 for rank 5', () => {
  const paddings: Array<[number, number]> = [[0, 0], [1, 0], [0, 2], [0, 1], [0, 0]];
  const x = randn(new Rng(28), [2, 3, 2, 2, 3]);

  it('padByConcat equals tf.pad (cpu kernel), constant -inf and 0', async () => {
    await selectBackend('cpu');
    for (const value of [0, -Infinity]) {
      const ours = tf.tidy(() => padByConcat(t(x), paddings, value).dataSync());
      const cpu = tf.tidy(() => tf.pad(t(x), paddings, value).dataSync());
      expect(Array.from(ours)).toEqual(Array.from(cpu));
    }
  });

  it.skipIf(!webgpu)(`is left unwritten before the repair and right after (webgpu only) ${WEBGPU_SKIP}`, async () => {
    await selectBackend('cpu');
    const expected = tf.tidy(() => tf.pad(t(x), paddings, 7).dataSync());
    await selectBackend('webgpu');
    const read = async () => {
      const y = tf.pad(t(x), paddings, 7);
      const v = await y.data();
      y.dispose();
      return Array.from(v);
    };
    removeRepairs('webgpu');
    const own = await read();
    installRepairs('webgpu');
    expect(own).not.toEqual(Array.from(expected));
    expect(await read()).toEqual(Array.from(expected));
  });
});

describe('wasm Slice / SplitV of rank 5', () => {
  it('collapseSlice merges whole axes and single-index axes', () => {
    // [2, 4, 2, 6, 3] taking rows 1..3 of axis 1, index 0 of axis 2, everything else: axis 4 is whole, so it
    // merges into axis 3 (6 * 3 = 18, begin 0 * 3 + 0, size 6 * 3); rank 4 is reached and merging stops.
    expect(collapseSlice({ shape: [2, 4, 2, 6, 3], begin: [0, 1, 0, 0, 0], size: [2, 3, 1, 6, 3] })).toEqual({
      shape: [2, 4, 2, 18],
      begin: [0, 1, 0, 0],
      size: [2, 3, 1, 18],
    });
    // nothing whole and no single index: stays rank 5
    expect(collapseSlice({ shape: [3, 3, 3, 3, 3], begin: [1, 1, 1, 1, 1], size: [2, 2, 2, 2, 2] }).shape).toHaveLength(5);
  });

  it('gives the cpu kernel values (slice and split of the model max-pool shapes)', async () => {
    const x = randn(new Rng(29), [2, 4, 2, 6, 3]);
    const run = () =>
      tf.tidy(() => {
        const a = tf.slice(t(x), [0, 1, 0, 0, 0], [-1, 3, 1, -1, -1]);
        const [b, c] = tf.split(t(x), 2, 2);
        const d = tf.slice(t(x), [1, 1, 1, 2, 1], [1, 2, 1, 3, 2]); // stays rank 5: the own kernel
        return [a, b!, c!, d].map((y) => Array.from(y.dataSync()));
      });
    await selectBackend('cpu');
    const cpu = run();
    await selectBackend('wasm');
    expect(run()).toEqual(cpu);
  });
});

describe('webgpu AddN with many inputs', () => {
  // 12 tensors holding 1, 2, ..., 12 in every element: the sum is 12 * 13 / 2 = 78 everywhere.
  const parts = () => Array.from({ length: 12 }, (_, i) => tf.fill([3, 2], i + 1));

  it('addNGrouped sums as addN does (groups of 4, then 3 partial sums)', async () => {
    await selectBackend('cpu');
    const y = tf.tidy(() => Array.from(addNGrouped(parts()).dataSync()));
    expect(y).toEqual(new Array(6).fill(78));
  });

  it.skipIf(!webgpu)(`is left unwritten before the repair and right after (webgpu only) ${WEBGPU_SKIP}`, async () => {
    await selectBackend('webgpu');
    const read = async () => {
      const xs = parts();
      const y = tf.addN(xs);
      const v = Array.from(await y.data());
      tf.dispose([y, ...xs]);
      return v;
    };
    removeRepairs('webgpu');
    const own = await read();
    installRepairs('webgpu');
    expect(own).not.toEqual(new Array(6).fill(78));
    expect(await read()).toEqual(new Array(6).fill(78));
  });
});

describe('repair registry', () => {
  it('install is idempotent and remove restores the backend kernel', async () => {
    await selectBackend('wasm');
    const repaired = tf.getKernel('MaxPoolGrad', 'wasm');
    expect(installRepairs('wasm')).toEqual(installedRepairs('wasm'));
    expect(tf.getKernel('MaxPoolGrad', 'wasm')).toBe(repaired);
    removeRepairs('wasm');
    expect(installedRepairs('wasm')).toEqual([]);
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    expect(tf.getKernel('MaxPoolGrad', 'wasm')?.kernelFunc).not.toBe(repaired?.kernelFunc);
    installRepairs('wasm');
    expect(installedRepairs('wasm')).toEqual(['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad', 'Slice', 'SplitV', 'UnsortedSegmentSum']);
  });
});
