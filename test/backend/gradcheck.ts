/**
 * The gradient-check harness: runs an op on the active backend (float32), and compares its forward values with
 * a float64 reference and its analytic gradients (tf.grads) with central differences of that reference.
 * Reads are asynchronous so that it also runs on webgpu.
 */
import * as tf from '@tensorflow/tfjs-core';
import { readFloat32 } from '../../src/backend/read.js';
import { Rng } from '../../src/util/rng.js';
import { numericGrad, randn, type Arr } from './reference.js';

export interface GradCase {
  name: string;
  /** Differentiable inputs, float32-representable values. */
  inputs: Arr[];
  /** The op as the detector writes it (constants closed over). */
  op: (...xs: tf.Tensor[]) => tf.Tensor;
  /** Float64 reference of the same function. */
  ref: (xs: Arr[]) => Arr;
  /** Largest accepted error relative to max(1, largest reference magnitude); default 1e-4. */
  tol?: number;
}

export interface CheckResult {
  forwardError: number;
  /** One relative error per input. */
  gradErrors: number[];
}

/** max |a - b| / max(1, max |b|) */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let err = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    err = Number.isNaN(d) ? Infinity : Math.max(err, d);
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return err / scale;
}

export async function gradCheck(c: GradCase): Promise<CheckResult> {
  const expected = c.ref(c.inputs);
  const weights = randn(new Rng(7), expected.shape).data;
  const xs = c.inputs.map((a) => tf.tensor(Float32Array.from(a.data), a.shape));
  const w = tf.tensor(Float32Array.from(weights), expected.shape.length === 0 ? [] : expected.shape);
  try {
    const y = tf.tidy(() => c.op(...xs));
    const shapeOk = y.shape.length === expected.shape.length && y.shape.every((d, i) => d === expected.shape[i]);
    if (!shapeOk) throw new Error(`${c.name}: shape [${y.shape.join(', ')}], expected [${expected.shape.join(', ')}]`);
    const forwardError = relError(await readFloat32(y), expected.data);
    y.dispose();
    const grads = tf.tidy(() => tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(c.op(...a), w)))(xs));
    const gradErrors: number[] = [];
    for (let i = 0; i < xs.length; i++) {
      const fd = numericGrad(c.ref, c.inputs, i, weights);
      gradErrors.push(relError(await readFloat32(grads[i]!), fd));
    }
    tf.dispose(grads);
    return { forwardError, gradErrors };
  } finally {
    tf.dispose([...xs, w]);
  }
}
