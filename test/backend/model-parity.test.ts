/**
 * The whole tiny RetinaNet (src/model, BN in training mode) on each accelerated backend against the cpu backend:
 * same weights (same seed), same input, same loss weights; forward outputs and every parameter gradient must
 * agree. Catches kernels that are right alone but wrong in the shapes the model feeds them (webgpu's rank-5 pad).
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/index.js';
import type { BackendChoice } from '../../src/config/types.js';
import { buildRetinaNet } from '../../src/model/build.js';
import { Rng } from '../../src/util/rng.js';
import { tinyModelConfig } from '../model/tiny.js';
import { relError } from './gradcheck.js';
import { randn } from './reference.js';
import { testBackends } from '../helpers.js';

type Name = Exclude<BackendChoice, 'auto'>;
// Every backend PSDET_BACKENDS names besides cpu (wasm by default); one that cannot start fails, never skips.
const others = testBackends().filter((b) => b !== 'cpu') as Name[];
const NO_OTHERS_SKIP = others.length === 0 ? '(skipped: PSDET_BACKENDS names no backend besides cpu)' : '';

interface StepResult {
  logits: Float32Array;
  deltas: Float32Array;
  grads: Map<string, Float32Array>;
}

/** Loss = sum(logits * r1) + sum(deltas * r2), gradients of every trainable parameter by name. */
async function step(backend: Name): Promise<StepResult> {
  await selectBackend(backend);
  const model = buildRetinaNet(tinyModelConfig(), new Rng(5));
  const rng = new Rng(6);
  const images = randn(rng, [2, 64, 64, 3]);
  const x = tf.tensor4d(Float32Array.from(images.data), [2, 64, 64, 3]);
  const before = tf.memory().numTensors;
  const out = model.forward(x, { training: true });
  const r1 = tf.tensor(Float32Array.from(randn(rng, out.clsLogits.shape).data), out.clsLogits.shape);
  const r2 = tf.tensor(Float32Array.from(randn(rng, out.boxDeltas.shape).data), out.boxDeltas.shape);
  const logits = (await out.clsLogits.data()) as Float32Array;
  const deltas = (await out.boxDeltas.data()) as Float32Array;
  tf.dispose([...out.features, out.clsLogits, out.boxDeltas]);
  const params = model.params().filter((p) => p.trainable);
  const { value, grads } = tf.variableGrads(() => {
    const o = model.forward(x, { training: true });
    return tf.add(tf.sum(tf.mul(o.clsLogits, r1)), tf.sum(tf.mul(o.boxDeltas, r2))) as tf.Scalar;
  }, params.map((p) => p.variable));
  const byName = new Map<string, Float32Array>();
  for (const p of params) byName.set(p.name, (await grads[p.variable.name]!.data()) as Float32Array);
  tf.dispose([value, ...Object.values(grads), r1, r2]);
  expect(tf.memory().numTensors, `tensors leaked on ${backend}`).toBe(before);
  tf.dispose(x);
  model.dispose();
  return { logits, deltas, grads: byName };
}

afterAll(async () => {
  await selectBackend('cpu');
});

describe.skipIf(others.length === 0)(`tiny RetinaNet training step agrees with the cpu backend ${NO_OTHERS_SKIP}`, () => {
  it.each(others)('%s', async (backend) => {
    const cpu = await step('cpu');
    const got = await step(backend);
    expect(relError(got.logits, cpu.logits)).toBeLessThan(1e-3);
    expect(relError(got.deltas, cpu.deltas)).toBeLessThan(1e-3);
    expect([...got.grads.keys()]).toEqual([...cpu.grads.keys()]);
    const worst = [...cpu.grads].map(([name, g]) => [name, relError(got.grads.get(name)!, g)] as const).sort((a, b) => b[1] - a[1]);
    expect(worst[0]![1], `largest gradient error, at ${worst[0]![0]}`).toBeLessThan(1e-3);
  });
});
