import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng.js';
import { kaimingNormalFanOut, kaimingUniformFanIn, normalInit, uniformInit } from './init.js';
import type { Module, NamedBuffer, NamedParam } from './module.js';

/**
 * How a conv's weights start, named after the torchvision module that uses each rule:
 * - `resnet`: kaiming normal, fan_out, ReLU gain (torchvision ResNet);
 * - `fpn`: kaiming uniform a = 1, bias 0 (FeaturePyramidNetwork, LastLevelP6P7);
 * - `normal`: normal(0, `std`), bias `biasValue` (RetinaNet head: std 0.01);
 * - `pytorch-default`: nn.Conv2d's reset_parameters (kaiming uniform a = sqrt(5), bias U(+-1/sqrt(fan_in))).
 */
export type ConvInit =
  | { kind: 'resnet' }
  | { kind: 'fpn' }
  | { kind: 'normal'; std: number; biasValue?: number }
  | { kind: 'pytorch-default' };

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride?: number;
  /** Explicit symmetric zero padding as torchvision writes it; defaults to (kernelSize - 1) / 2. */
  padding?: number;
  bias: boolean;
  init: ConvInit;
  rng: Rng;
  trainable?: boolean;
}

/**
 * A 2-D convolution with torchvision's explicit padding. Input [N, H, W, Cin] -> [N, Ho, Wo, Cout] with
 * Ho = floor((H + 2 * padding - kernel) / stride) + 1. Weight is HWIO [k, k, Cin, Cout]; bias [Cout].
 */
export class Conv2d implements Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  readonly weight: tf.Variable<tf.Rank.R4>;
  readonly bias: tf.Variable<tf.Rank.R1> | null;
  private trainable: boolean;

  constructor(opts: Conv2dOptions) {
    const { inChannels, outChannels, kernelSize: k, rng } = opts;
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = k;
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? (k - 1) / 2;
    this.trainable = opts.trainable ?? true;
    let w: Float32Array;
    let b: Float32Array | null = null;
    const init = opts.init;
    switch (init.kind) {
      case 'resnet':
        w = kaimingNormalFanOut(k, inChannels, outChannels, rng);
        if (opts.bias) b = new Float32Array(outChannels);
        break;
      case 'fpn':
        w = kaimingUniformFanIn(k, inChannels, outChannels, 1, rng);
        if (opts.bias) b = new Float32Array(outChannels);
        break;
      case 'normal':
        w = normalInit(k * k * inChannels * outChannels, init.std, rng);
        if (opts.bias) b = new Float32Array(outChannels).fill(init.biasValue ?? 0);
        break;
      case 'pytorch-default':
        w = kaimingUniformFanIn(k, inChannels, outChannels, Math.sqrt(5), rng);
        if (opts.bias) b = uniformInit(outChannels, 1 / Math.sqrt(inChannels * k * k), rng);
        break;
    }
    const trainable = this.trainable;
    const bias = b;
    // tidy frees the initial values; the variables survive it.
    this.weight = tf.tidy(() => tf.variable(tf.tensor4d(w, [k, k, inChannels, outChannels]), trainable));
    this.bias = bias === null ? null : tf.tidy(() => tf.variable(tf.tensor1d(bias), trainable));
  }

  /** [N, H, W, Cin] -> [N, Ho, Wo, Cout]. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = tf.conv2d(x, this.weight, this.stride, this.padding);
      return this.bias === null ? y : tf.add(y, this.bias);
    });
  }

  /** Freezes or unfreezes the weight and bias (the optimizer and variableGrads skip frozen ones). */
  setTrainable(trainable: boolean): void {
    this.trainable = trainable;
    this.weight.trainable = trainable;
    if (this.bias !== null) this.bias.trainable = trainable;
  }

  params(): NamedParam[] {
    const out: NamedParam[] = [{ name: 'weight', variable: this.weight, kind: 'weight', trainable: this.trainable }];
    if (this.bias !== null) out.push({ name: 'bias', variable: this.bias, kind: 'bias', trainable: this.trainable });
    return out;
  }

  buffers(): NamedBuffer[] {
    return [];
  }

  dispose(): void {
    this.weight.dispose();
    this.bias?.dispose();
  }
}
