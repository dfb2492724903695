import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { applyNormAtInference, foldNormIntoConv, type NormAtInference } from '../../src/model/fold.js';

function norm(gamma: number[], beta: number[], mean: number[], variance: number[], eps: number, alpha: number): NormAtInference {
  return { gamma: tf.tensor1d(gamma), beta: tf.tensor1d(beta), mean: tf.tensor1d(mean), variance: tf.tensor1d(variance), eps, alpha };
}

function disposeNorm(n: NormAtInference): void {
  tf.dispose([n.gamma, n.beta, n.mean, n.variance]);
}

describe('foldNormIntoConv', () => {
  it('matches hand-computed values for a 1x1 conv with two outputs', async () => {
    // sqrt(var + eps) = sqrt([3, 15] + 1) = [2, 4]; s = gamma / that = [1 / 2, 0.5 / 4] = [0.5, 0.125].
    // w' = [2, 3] * s = [1, 0.375]; b' = (0 - mean) * s + beta + alpha = [-0.5 + 0.1 + 0.3, -0.25 - 0.2 + 0.3]
    // = [-0.1, -0.15].
    const n = norm([1, 0.5], [0.1, -0.2], [1, 2], [3, 15], 1, 0.3);
    const w = tf.tensor4d([2, 3], [1, 1, 1, 2]);
    const folded = foldNormIntoConv(w, null, n);
    expect(Array.from(await folded.weight.data())).toEqual([1, 0.375]);
    const b = Array.from(await folded.bias.data());
    expect(b[0]).toBeCloseTo(-0.1, 6);
    expect(b[1]).toBeCloseTo(-0.15, 6);
    // With a conv bias [4, 8]: b' = ([4, 8] - [1, 2]) * s + beta + alpha = [1.5 + 0.4, 0.75 + 0.1] = [1.9, 0.85].
    const withBias = foldNormIntoConv(w, tf.tensor1d([4, 8]), n);
    const b2 = Array.from(await withBias.bias.data());
    expect(b2[0]).toBeCloseTo(1.9, 6);
    expect(b2[1]).toBeCloseTo(0.85, 6);
    tf.dispose([w, folded.weight, folded.bias, withBias.weight, withBias.bias]);
    disposeNorm(n);
  });

  it('gives norm(conv(x)) for a strided 3x3 conv with non-trivial running statistics and psBN alpha', async () => {
    const before = tf.memory().numTensors;
    const cin = 3;
    const cout = 5;
    const x = tf.randomNormal([2, 9, 11, cin], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, cin, cout], 0, 0.5, 'float32', 2) as tf.Tensor4D;
    const bias = tf.randomNormal([cout], 0, 1, 'float32', 3) as tf.Tensor1D;
    const n = norm([1.5, -0.7, 0.2, 2, 0.01], [0.3, -1, 0.5, 0, 2], [0.4, -2, 1, 3, -0.5], [0.5, 4, 0.01, 9, 1.3], 1e-5, 0.25);
    const folded = foldNormIntoConv(w, bias, n);
    const reference = tf.tidy(() => applyNormAtInference(tf.add(tf.conv2d(x, w, 2, 'same'), bias), n));
    const deployed = tf.tidy(() => tf.add(tf.conv2d(x, folded.weight, 2, 'same'), folded.bias));
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(reference, deployed))));
    const maxDiff = (await diff.data())[0]!;
    diff.dispose();
    expect(maxDiff).toBeLessThan(1e-4);
    tf.dispose([x, w, bias, folded.weight, folded.bias, reference, deployed]);
    disposeNorm(n);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a norm whose channel count differs from the conv outputs', () => {
    const n = norm([1], [0], [0], [1], 1e-5, 0);
    const w = tf.zeros([1, 1, 1, 2]) as tf.Tensor4D;
    expect(() => foldNormIntoConv(w, null, n)).toThrow(/gamma has 1 channels, the conv has 2 outputs/);
    w.dispose();
    disposeNorm(n);
  });
});
