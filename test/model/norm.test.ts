import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { BatchNorm, FrozenBatchNorm, PsBatchNorm, batchMoments, makeNorm } from '../../src/model/norm.js';

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(actual[i]!).toBeCloseTo(expected[i]!, -Math.log10(tol));
}

// [N=2, H=1, W=2, C=2]; channel 0 holds 1, 2, 3, 6 and channel 1 holds 0, 0, 4, 4.
const X = [1, 0, 2, 0, 3, 4, 6, 4];
const input = (): tf.Tensor4D => tf.tensor4d(X, [2, 1, 2, 2]);

describe('BatchNorm', () => {
  it('training normalises with the biased batch variance and updates running stats with the unbiased one', () => {
    const bn = new BatchNorm(2, { epsilon: 1e-5, momentum: 0.1 });
    const y = bn.apply(input(), true);
    // Channel 0: mean 3, biased var (4 + 1 + 0 + 9) / 4 = 3.5, unbiased 14 / 3.
    // Channel 1: mean 2, biased var (4 + 4 + 4 + 4) / 4 = 4, unbiased 16 / 3.
    const s0 = Math.sqrt(3.5 + 1e-5);
    const s1 = Math.sqrt(4 + 1e-5);
    close(y.dataSync(), [-2 / s0, -2 / s1, -1 / s0, -2 / s1, 0, 2 / s1, 3 / s0, 2 / s1]);
    // running_mean = 0.9 * 0 + 0.1 * mean; running_var = 0.9 * 1 + 0.1 * unbiased.
    close(bn.runningMean.dataSync(), [0.3, 0.2]);
    close(bn.runningVar.dataSync(), [0.9 + 0.1 * (14 / 3), 0.9 + 0.1 * (16 / 3)]);
    y.dispose();
    bn.dispose();
  });

  it('eval uses the running statistics and leaves them alone', () => {
    const bn = new BatchNorm(2);
    bn.runningMean.assign(tf.tensor1d([1, -1]));
    bn.runningVar.assign(tf.tensor1d([4, 0.25]));
    bn.gamma.assign(tf.tensor1d([2, 1]));
    bn.beta.assign(tf.tensor1d([0.5, 0]));
    const y = bn.apply(input(), false);
    // Channel 0: 2 * (x - 1) / sqrt(4 + 1e-5) + 0.5; channel 1: (x + 1) / sqrt(0.25 + 1e-5).
    const a = Math.sqrt(4 + 1e-5);
    const b = Math.sqrt(0.25 + 1e-5);
    close(y.dataSync(), [0.5, 1 / b, 2 / a + 0.5, 1 / b, 4 / a + 0.5, 5 / b, 10 / a + 0.5, 5 / b]);
    close(bn.runningMean.dataSync(), [1, -1]);
    close(bn.runningVar.dataSync(), [4, 0.25]);
    y.dispose();
    bn.dispose();
  });

  it('norm eval (running statistics) in training gives the eval output and no update', () => {
    const bn = new BatchNorm(2, { useRunningStats: true });
    bn.runningMean.assign(tf.tensor1d([1, 2]));
    const train = bn.apply(input(), true);
    const evalOut = bn.apply(input(), false);
    close(train.dataSync(), Array.from(evalOut.dataSync()));
    close(bn.runningMean.dataSync(), [1, 2]);
    expect(bn.usesBatchStats).toBe(false);
    tf.dispose([train, evalOut]);
    bn.dispose();
  });

  it('two training steps compound the running update with momentum 0.1', () => {
    const bn = new BatchNorm(2);
    tf.dispose([bn.apply(input(), true), bn.apply(input(), true)]);
    // mean_1 = 0.3, mean_2 = 0.9 * 0.3 + 0.1 * 3 = 0.57 (channel 0); channel 1: 0.2 -> 0.38.
    close(bn.runningMean.dataSync(), [0.57, 0.38]);
    bn.dispose();
  });

  it('gradient of the training output reaches gamma, beta and the input; frozen parameters are not trainable', () => {
    const bn = new BatchNorm(2);
    const x = input();
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(bn.apply(x, true), tf.tensor4d([1, 0, 2, 0, 3, 0, 4, 1], [2, 1, 2, 2]))), [bn.gamma, bn.beta]);
    // d/dbeta = sum of upstream weights per channel: 1 + 2 + 3 + 4 = 10, 0 + 0 + 0 + 1 = 1.
    close(grads[bn.beta.name]!.dataSync(), [10, 1]);
    // d/dgamma = sum(w * xhat): channel 0 xhat = (-2, -1, 0, 3) / sqrt(3.5 + 1e-5) -> (-2 - 2 + 0 + 12) / s0;
    // channel 1 xhat = (-2, -2, 2, 2) / sqrt(4 + 1e-5), only the last weighted (1) -> 2 / s1.
    close(grads[bn.gamma.name]!.dataSync(), [8 / Math.sqrt(3.5 + 1e-5), 2 / Math.sqrt(4 + 1e-5)]);
    tf.dispose(Object.values(grads));
    x.dispose();
    bn.freeze();
    expect(bn.params().every((p) => !p.trainable && !p.variable.trainable)).toBe(true);
    bn.dispose();
  });
});

describe('batchMoments', () => {
  it('gives the per-channel mean and biased variance over N, H, W', () => {
    const { mean, variance } = batchMoments(input());
    close(mean.dataSync(), [3, 2]);
    close(variance.dataSync(), [3.5, 4]);
    tf.dispose([mean, variance]);
  });
});

describe('psBN', () => {
  it('equals BN with beta + alpha in training and in eval', () => {
    const ps = new PsBatchNorm(2, { alpha: 0.1 });
    const bn = new BatchNorm(2);
    for (const layer of [ps, bn]) {
      layer.gamma.assign(tf.tensor1d([1.5, -0.5]));
      layer.runningMean.assign(tf.tensor1d([0.5, 1]));
      layer.runningVar.assign(tf.tensor1d([2, 3]));
    }
    ps.beta.assign(tf.tensor1d([0.2, -0.3]));
    const folded = ps.foldedBeta();
    close(folded.dataSync(), [0.3, -0.2]);
    bn.beta.assign(folded);
    for (const training of [true, false]) {
      const a = ps.apply(input(), training);
      const b = bn.apply(input(), training);
      close(a.dataSync(), Array.from(b.dataSync()));
      tf.dispose([a, b]);
    }
    // Same running update as BN.
    close(ps.runningMean.dataSync(), Array.from(bn.runningMean.dataSync()));
    expect(ps.view().alpha).toBe(0.1);
    expect(bn.view().alpha).toBe(0);
    folded.dispose();
    ps.dispose();
    bn.dispose();
  });
});

describe('FrozenBN', () => {
  it('is a fixed scale and shift, the same in training, never updated, not trainable', () => {
    const fb = new FrozenBatchNorm(2, { epsilon: 0 });
    fb.gamma.assign(tf.tensor1d([2, 3]));
    fb.beta.assign(tf.tensor1d([1, 0]));
    fb.runningMean.assign(tf.tensor1d([1, 4]));
    fb.runningVar.assign(tf.tensor1d([4, 9]));
    // scale = gamma / sqrt(var) = (1, 1); shift = beta - mean * scale = (0, -4): y = (x, x - 4).
    const expected = [1, -4, 2, -4, 3, 0, 6, 0];
    for (const training of [true, false]) {
      const y = fb.apply(input(), training);
      close(y.dataSync(), expected);
      y.dispose();
    }
    close(fb.runningMean.dataSync(), [1, 4]);
    expect(fb.params().map((p) => p.trainable)).toEqual([false, false]);
    fb.dispose();
  });
});

describe('makeNorm', () => {
  it('builds each kind and leaks nothing', () => {
    const before = tf.memory().numTensors;
    for (const kind of ['bn', 'frozen_bn', 'psbn'] as const) {
      const n = makeNorm(kind, 3, { alpha: 0.25 });
      expect(n.kind).toBe(kind);
      expect(n.alpha).toBe(kind === 'psbn' ? 0.25 : 0);
      const x = tf.ones([1, 2, 2, 3]) as tf.Tensor4D;
      tf.dispose([n.apply(x, true), x]);
      n.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
