// The losses on the wasm backend (the fast CPU backend here): same values and gradients as on cpu.
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import { retinanetLosses } from '../../src/model/losses.js';


function run(boxLoss: 'l1' | 'smooth_l1' | 'giou'): number[] {
  return tf.tidy(() => {
    const n = 2;
    const a = 6;
    const k = 3;
    const logits = tf.tensor3d(Float32Array.from({ length: n * a * k }, (_, i) => 3 * Math.sin(0.37 * i) - 1), [n, a, k]);
    const deltas = tf.tensor3d(Float32Array.from({ length: n * a * 4 }, (_, i) => 0.5 * Math.cos(0.11 * i)), [n, a, 4]);
    const clsTargets = tf.tensor2d([[2, -1, -2, 0, -1, -1], [-1, -1, 1, -2, -2, -1]], undefined, 'int32');
    const boxTargets = tf.tensor3d(Float32Array.from({ length: n * a * 4 }, (_, i) => 0.2 * Math.sin(i)), [n, a, 4]);
    const anchors = tf.tensor2d([0, 0, 10, 10, 5, 5, 25, 15, 0, 0, 8, 8, 3, 3, 30, 30, 10, 0, 20, 40, 1, 2, 3, 4], [a, 4]);
    const matchedBoxes = tf.tensor3d(Float32Array.from({ length: n * a * 4 }, (_, i) => [1, 2, 12, 14][i % 4]!), [n, a, 4]);
    const total = (l: tf.Tensor, d: tf.Tensor) => {
      const { lossCls, lossBox } = retinanetLosses(
        { clsLogits: l as tf.Tensor3D, boxDeltas: d as tf.Tensor3D, clsTargets, boxTargets, numForeground: [2, 1], anchors, matchedBoxes },
        { ...defaultConfig().model, boxLoss },
      );
      return tf.stack([lossCls, lossBox]);
    };
    const value = total(logits, deltas);
    const [gl, gd] = tf.grads((l: tf.Tensor, d: tf.Tensor) => tf.sum(total(l, d)))([logits, deltas]);
    return [...value.dataSync(), ...gl!.dataSync(), ...gd!.dataSync()];
  });
}

// wasm is a dependency, so these run everywhere: a wasm backend that cannot start fails them, it never skips.
describe('losses on wasm', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const boxLoss of ['l1', 'smooth_l1', 'giou'] as const) {
    it(`agree with cpu for ${boxLoss}, gradients included`, async () => {
      await tf.setBackend('cpu');
      const cpu = run(boxLoss);
      expect(await tf.setBackend('wasm'), 'wasm backend starts').toBe(true);
      expect(tf.getBackend()).toBe('wasm');
      const wasm = run(boxLoss);
      expect(wasm.length).toBe(cpu.length);
      wasm.forEach((v, i) => expect(Math.abs(v - cpu[i]!)).toBeLessThan(1e-5 * Math.max(1, Math.abs(cpu[i]!))));
      expect(cpu.slice(2).some((v) => v !== 0)).toBe(true);
    });
  }
});
