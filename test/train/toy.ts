// The trainer's callers register tfjs-core's gradients (model / engine); under vitest a plain import does it.
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import * as tf from '@tensorflow/tfjs-core';
import type { Module, NamedBuffer, NamedParam } from '../../src/model/module.js';
import type { BatchSource } from '../../src/train/trainer.js';
import { Rng, type RngState } from '../../src/util/rng.js';

/**
 * A tiny stand-in detector for trainer tests: conv 3x3 (3 -> 4) -> BN (batch statistics, PyTorch momentum) ->
 * ReLU -> conv 1x1 (4 -> 2, bias) -> global mean -> two outputs regressed onto two targets, giving the two loss
 * terms `lossCls` (squared error) and `lossBox` (absolute error).
 */
export class ToyNet implements Module {
  readonly conv1: tf.Variable;
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly conv2: tf.Variable;
  readonly bias2: tf.Variable;

  constructor(seed: number) {
    const rng = new Rng(seed);
    const randn = (shape: number[], scale: number): tf.Tensor => {
      const n = shape.reduce((a, b) => a * b, 1);
      return tf.tensor(Float32Array.from({ length: n }, () => rng.normal() * scale), shape);
    };
    this.conv1 = tf.variable(randn([3, 3, 3, 4], 0.3));
    this.gamma = tf.variable(tf.ones([4]));
    this.beta = tf.variable(tf.zeros([4]));
    this.runningMean = tf.variable(tf.zeros([4]), false);
    this.runningVar = tf.variable(tf.ones([4]), false);
    this.conv2 = tf.variable(randn([1, 1, 4, 2], 0.3));
    this.bias2 = tf.variable(tf.zeros([2]));
  }

  params(): NamedParam[] {
    return [
      { name: 'conv1.weight', variable: this.conv1, kind: 'weight', trainable: true },
      { name: 'bn1.weight', variable: this.gamma, kind: 'norm', trainable: true },
      { name: 'bn1.bias', variable: this.beta, kind: 'norm', trainable: true },
      { name: 'conv2.weight', variable: this.conv2, kind: 'weight', trainable: true },
      { name: 'conv2.bias', variable: this.bias2, kind: 'bias', trainable: true },
    ];
  }

  buffers(): NamedBuffer[] {
    return [
      { name: 'bn1.running_mean', variable: this.runningMean },
      { name: 'bn1.running_var', variable: this.runningVar },
    ];
  }

  /** [N, H, W, 3] -> [N, 2]; in training, BN uses batch statistics and updates its running buffers. */
  forward(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const x = tf.conv2d(images, this.conv1 as tf.Tensor4D, 1, 'same');
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      const n = x.shape[0] * x.shape[1] * x.shape[2];
      const m = 0.1;
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(variance, (m * n) / (n - 1))));
      const xhat = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5)));
      const y = tf.relu(tf.add(tf.mul(xhat, this.gamma), this.beta));
      const z = tf.add(tf.conv2d(y as tf.Tensor4D, this.conv2 as tf.Tensor4D, 1, 'valid'), this.bias2);
      return tf.mean(z, [1, 2]) as tf.Tensor2D;
    });
  }

  dispose(): void {
    for (const v of [this.conv1, this.gamma, this.beta, this.runningMean, this.runningVar, this.conv2, this.bias2]) v.dispose();
  }
}

export interface ToyBatch {
  /** Position of the batch in the stream (0-based). */
  index: number;
  images: Float32Array;
  targets: Float32Array;
  n: number;
  size: number;
}

/** Loss terms of the toy task for one batch. */
export function toyLosses(net: ToyNet, batch: ToyBatch): Record<string, tf.Scalar> {
  const images = tf.tensor4d(batch.images, [batch.n, batch.size, batch.size, 3]);
  const targets = tf.tensor2d(batch.targets, [batch.n, 2]);
  const out = net.forward(images);
  const [o0, o1] = tf.split(out, 2, 1);
  const [t0, t1] = tf.split(targets, 2, 1);
  return {
    lossCls: tf.mean(tf.square(tf.sub(o0!, t0!))) as tf.Scalar,
    lossBox: tf.mean(tf.abs(tf.sub(o1!, t1!))) as tf.Scalar,
  };
}

/**
 * An endless seeded stream of toy batches: the targets are the mean of channel 0 and the max of channel 1 of
 * random images, so the net can learn them. The position is the generator state plus the batch index.
 */
export class ToyLoader implements BatchSource<ToyBatch> {
  private rng: Rng;
  private index = 0;

  constructor(
    seed: number,
    readonly n = 2,
    readonly size = 8,
  ) {
    this.rng = new Rng(seed);
  }

  async next(): Promise<ToyBatch> {
    await new Promise((resolve) => setImmediate(resolve));
    const { n, size } = this;
    const images = Float32Array.from({ length: n * size * size * 3 }, () => this.rng.uniform(-1, 1));
    const targets = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      let sum = 0;
      let max = -Infinity;
      for (let p = 0; p < size * size; p++) {
        sum += images[(i * size * size + p) * 3]!;
        max = Math.max(max, images[(i * size * size + p) * 3 + 1]!);
      }
      targets[i * 2] = sum / (size * size);
      targets[i * 2 + 1] = max;
    }
    return { index: this.index++, images, targets, n, size };
  }

  state(): { rng: RngState; index: number } {
    return { rng: this.rng.getState(), index: this.index };
  }

  restore(state: unknown): void {
    const s = state as { rng: RngState; index: number };
    this.rng = new Rng(s.rng);
    this.index = s.index;
  }
}
