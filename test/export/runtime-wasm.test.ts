// The deploy forward on the wasm backend (what a browser without WebGL/WebGPU gets): same outputs as on cpu.
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { DeployRetinaNet, type DeployWeights } from '../../src/export/runtime.js';
import { tinySpec, tinyWeights } from './tiny-deploy.js';


/** Forward outputs (logits and deltas of every level, flattened) of the tiny deploy model on the active backend. */
async function outputs(host: Record<string, { values: Float32Array; shape: number[] }>, image: Float32Array): Promise<Float32Array[]> {
  const weights: DeployWeights = {};
  for (const [name, t] of Object.entries(host)) weights[name] = tf.tensor(t.values, t.shape);
  const model = new DeployRetinaNet(tinySpec(), weights);
  const x = tf.tensor4d(image, [1, 64, 96, 3]);
  const out = model.forward(x);
  const arrays = await Promise.all([...out.clsLogits, ...out.boxDeltas].map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([x, ...out.clsLogits, ...out.boxDeltas]);
  model.dispose();
  return arrays;
}

// wasm is a dependency, so this runs everywhere: a wasm backend that cannot start fails it, it never skips.
describe('DeployRetinaNet on wasm', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('matches the cpu backend (conv with explicit padding, padded max-pool, upsampling)', async () => {
    const w = tinyWeights(tinySpec());
    const host: Record<string, { values: Float32Array; shape: number[] }> = {};
    for (const [name, t] of Object.entries(w)) host[name] = { values: (await t.data()) as Float32Array, shape: t.shape };
    tf.dispose(Object.values(w));
    const image = Float32Array.from({ length: 64 * 96 * 3 }, (_, i) => Math.sin(0.013 * i) * 2);
    const onCpu = await outputs(host, image);
    expect(await tf.setBackend('wasm'), 'wasm backend starts').toBe(true);
    expect(tf.getBackend()).toBe('wasm');
    const onWasm = await outputs(host, image);
    await tf.setBackend('cpu');
    onCpu.forEach((a, i) => {
      let worst = 0;
      let scale = 1e-6;
      a.forEach((v, j) => {
        worst = Math.max(worst, Math.abs(v - onWasm[i]![j]!));
        scale = Math.max(scale, Math.abs(v));
      });
      expect(worst / scale).toBeLessThan(1e-4);
    });
  });
});
