import * as tf from '@tensorflow/tfjs-core';
import type { NormView } from '../analysis/probe.js';
import type { NormKind } from '../config/types.js';
import type { Module, NamedBuffer, NamedParam } from './module.js';

export interface NormOptions {
  /** Added to the variance (PyTorch: 1e-5). */
  epsilon: number;
  /** running = (1 - momentum) * running + momentum * batch (PyTorch: 0.1). */
  momentum: number;
  /** Whether gamma and beta are trained. */
  affineTrainable: boolean;
  /** Normalise with the running statistics in training too and never update them (norm eval / frozen stage). */
  useRunningStats: boolean;
  /** psBN's fixed shift: y = gamma * xhat + beta + alpha. Ignored by the other kinds. */
  alpha: number;
}

export const DEFAULT_NORM_OPTIONS: NormOptions = {
  epsilon: 1e-5,
  momentum: 0.1,
  affineTrainable: true,
  useRunningStats: false,
  alpha: 0.1,
};

/**
 * A per-channel normalisation over [N, H, W, C] (statistics over N, H, W): BatchNorm, FrozenBN or psBN.
 * Parameters `gamma`, `beta` (kind 'norm'); buffers `running_mean`, `running_var`.
 */
export interface NormLayer extends Module {
  readonly kind: NormKind;
  readonly channels: number;
  readonly gamma: tf.Variable<tf.Rank.R1>;
  readonly beta: tf.Variable<tf.Rank.R1>;
  readonly runningMean: tf.Variable<tf.Rank.R1>;
  readonly runningVar: tf.Variable<tf.Rank.R1>;
  /** The fixed post-shift (psBN's alpha; 0 otherwise). */
  readonly alpha: number;
  /**
   * [N, H, W, C] -> same shape. In training (and not using running statistics) normalises with the batch's
   * statistics and updates the running ones by variable assignment; otherwise uses the running statistics.
   */
  apply(x: tf.Tensor4D, training: boolean): tf.Tensor4D;
  /** The affine parameters as the collapse probe sees them. The tensors are the layer's own: do not dispose. */
  view(): NormView;
  /** Frozen stage: parameters not trainable and running statistics used (and kept) in training. */
  freeze(): void;
  /** Whether training mode normalises with batch statistics (BN / psBN not in eval or frozen). */
  readonly usesBatchStats: boolean;
}

/**
 * BatchNorm as PyTorch computes it: training normalises with the biased batch variance and updates the running
 * variance with the unbiased one (n / (n - 1)), n = N * H * W; eval uses the running statistics.
 */
export class BatchNorm implements NormLayer {
  readonly kind: NormKind = 'bn';
  readonly channels: number;
  readonly gamma: tf.Variable<tf.Rank.R1>;
  readonly beta: tf.Variable<tf.Rank.R1>;
  readonly runningMean: tf.Variable<tf.Rank.R1>;
  readonly runningVar: tf.Variable<tf.Rank.R1>;
  readonly alpha: number = 0;
  protected opts: NormOptions;
  private alphaTensor: tf.Scalar | null = null;

  constructor(channels: number, opts: Partial<NormOptions> = {}) {
    this.channels = channels;
    this.opts = { ...DEFAULT_NORM_OPTIONS, ...opts };
    // tidy frees the initial values; the variables survive it.
    const trainable = this.opts.affineTrainable;
    [this.gamma, this.beta, this.runningMean, this.runningVar] = tf.tidy(() => [
      tf.variable(tf.ones([channels]), trainable) as tf.Variable<tf.Rank.R1>,
      tf.variable(tf.zeros([channels]), trainable) as tf.Variable<tf.Rank.R1>,
      tf.variable(tf.zeros([channels]), false) as tf.Variable<tf.Rank.R1>,
      tf.variable(tf.ones([channels]), false) as tf.Variable<tf.Rank.R1>,
    ]);
  }

  get usesBatchStats(): boolean {
    return !this.opts.useRunningStats;
  }

  get epsilon(): number {
    return this.opts.epsilon;
  }

  apply(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    return tf.tidy(() => {
      let mean: tf.Tensor1D;
      let variance: tf.Tensor1D;
      if (training && this.usesBatchStats) {
        ({ mean, variance } = batchMoments(x));
        this.updateRunningStats(mean, variance, x.shape[0] * x.shape[1] * x.shape[2]);
      } else {
        mean = this.runningMean;
        variance = this.runningVar;
      }
      // y = x * scale + shift with scale = gamma / sqrt(var + eps), shift = beta + alpha - mean * scale.
      const scale = tf.mul(this.gamma, tf.rsqrt(tf.add(variance, this.opts.epsilon)));
      let shift = tf.sub(this.beta, tf.mul(mean, scale));
      if (this.alpha !== 0) shift = tf.add(shift, this.alphaScalar());
      return tf.add(tf.mul(x, scale), shift);
    });
  }

  private alphaScalar(): tf.Scalar {
    if (this.alphaTensor === null) this.alphaTensor = tf.keep(tf.scalar(this.alpha));
    return this.alphaTensor;
  }

  private updateRunningStats(mean: tf.Tensor1D, variance: tf.Tensor1D, n: number): void {
    const m = this.opts.momentum;
    const unbiased = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
    // The running statistics are plain state: no loss depends on them, so no gradient reaches them.
    const newMean = tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m));
    const newVar = tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(unbiased, m));
    this.runningMean.assign(newMean as tf.Tensor1D);
    this.runningVar.assign(newVar as tf.Tensor1D);
  }

  view(): NormView {
    return { gamma: this.gamma, beta: this.beta, alpha: this.alpha };
  }

  freeze(): void {
    this.opts = { ...this.opts, affineTrainable: false, useRunningStats: true };
    this.gamma.trainable = false;
    this.beta.trainable = false;
  }

  params(): NamedParam[] {
    const trainable = this.opts.affineTrainable;
    return [
      { name: 'gamma', variable: this.gamma, kind: 'norm', trainable },
      { name: 'beta', variable: this.beta, kind: 'norm', trainable },
    ];
  }

  buffers(): NamedBuffer[] {
    return [
      { name: 'running_mean', variable: this.runningMean },
      { name: 'running_var', variable: this.runningVar },
    ];
  }

  dispose(): void {
    this.gamma.dispose();
    this.beta.dispose();
    this.runningMean.dispose();
    this.runningVar.dispose();
    this.alphaTensor?.dispose();
    this.alphaTensor = null;
  }
}

/**
 * Per-channel mean and biased variance of [N, H, W, C] over N, H, W, reduced one axis at a time (W, then H, then N)
 * so each float32 sum is short: PyTorch accumulates these in double, while wasm's Sum is one sequential float32
 * sum over N * H * W (51200 values in the stem at 320 px); its drift, amplified through ResNet-50, put training-mode
 * logits 1e-3 relative off torchvision's (1e-5 with the staged reduction).
 */
export function batchMoments(x: tf.Tensor4D): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  return tf.tidy(() => {
    const c = x.shape[3];
    const meanOver = (t: tf.Tensor): tf.Tensor => tf.mean(tf.mean(tf.mean(t, 2, true), 1, true), 0, true);
    const mean = meanOver(x);
    const variance = meanOver(tf.square(tf.sub(x, mean)));
    return { mean: tf.reshape(mean, [c]) as tf.Tensor1D, variance: tf.reshape(variance, [c]) as tf.Tensor1D };
  });
}

/**
 * psBN: BatchNorm with a fixed post-shift, y = gamma * xhat + beta + alpha. It is plain BN with beta' = beta + alpha
 * (`foldedBeta`), so inference and export fold it away.
 */
export class PsBatchNorm extends BatchNorm {
  override readonly kind: NormKind = 'psbn';
  override readonly alpha: number;

  constructor(channels: number, opts: Partial<NormOptions> = {}) {
    super(channels, opts);
    this.alpha = this.opts.alpha;
  }

  /** beta + alpha: the beta of the equivalent plain BatchNorm. [C], caller disposes. */
  foldedBeta(): tf.Tensor1D {
    return tf.tidy(() => tf.add(this.beta, this.alpha));
  }
}

/**
 * FrozenBN (torchvision's FrozenBatchNorm2d): fixed scale and shift from stored gamma, beta, running mean and
 * variance; never trained, never updated, the same in training and eval.
 */
export class FrozenBatchNorm extends BatchNorm {
  override readonly kind: NormKind = 'frozen_bn';

  constructor(channels: number, opts: Partial<NormOptions> = {}) {
    super(channels, { ...opts, affineTrainable: false, useRunningStats: true });
  }
}

/** The norm layer for `kind` with `channels` channels. */
export function makeNorm(kind: NormKind, channels: number, opts: Partial<NormOptions> = {}): NormLayer {
  switch (kind) {
    case 'bn':
      return new BatchNorm(channels, opts);
    case 'psbn':
      return new PsBatchNorm(channels, opts);
    case 'frozen_bn':
      return new FrozenBatchNorm(channels, opts);
  }
}
