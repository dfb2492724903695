import * as tf from '@tensorflow/tfjs-core';
import type { Stage } from '../analysis/probe.js';
import { Rng } from '../util/rng.js';
import { Conv2d } from './conv.js';
import { prefixed, type Module, type NamedBuffer, type NamedParam } from './module.js';
import { reluSite, type ForwardContext } from './resnet.js';

export interface RetinaNetHeadOptions {
  inChannels: number;
  /** Anchors per location (A = scales x ratios). */
  numAnchors: number;
  numClasses: number;
  /** Conv3x3 + ReLU layers in each tower. */
  depth: number;
  /** Width of the towers. */
  channels: number;
  /** Initial foreground probability p: logits bias -log((1 - p) / p). */
  priorProbability: number;
  rng: Rng;
}

/** A tower of conv3x3 + ReLU followed by a conv3x3 predictor (`tower.i`, then `logits` or `deltas`). */
class Branch implements Module {
  constructor(
    readonly tower: Conv2d[],
    readonly predictor: Conv2d,
    readonly predictorName: string,
    readonly stage: Stage,
  ) {}

  /** [N, H, W, Cin] -> [N, H, W, A * per]. */
  forward(x: tf.Tensor4D, ctx: ForwardContext, prefix: string): tf.Tensor4D {
    return tf.tidy(() => {
      let y = x;
      this.tower.forEach((conv, i) => {
        y = reluSite(conv.apply(y), ctx, this.stage, `${prefix}.tower.${i}.relu`);
      });
      return this.predictor.apply(y);
    });
  }

  params(): NamedParam[] {
    return [
      ...this.tower.flatMap((c, i) => prefixed(`tower.${i}`, c.params())),
      ...prefixed(this.predictorName, this.predictor.params()),
    ];
  }

  buffers(): NamedBuffer[] {
    return [];
  }

  dispose(): void {
    for (const c of [...this.tower, this.predictor]) c.dispose();
  }
}

/**
 * RetinaNet head shared across pyramid levels: a classification branch (`cls`: tower + A*K logits, bias from the
 * prior) and a regression branch (`box`: tower + A*4 deltas). Convs init normal(0, 0.01), bias 0. Outputs are
 * laid out exactly as torchvision's: per level [N, H*W*A, K] (location-major, then anchor), levels concatenated.
 */
export class RetinaNetHead implements Module {
  readonly numAnchors: number;
  readonly numClasses: number;
  readonly cls: Branch;
  readonly box: Branch;

  constructor(opts: RetinaNetHeadOptions) {
    const { inChannels, channels, depth, numAnchors: a, numClasses: k, rng } = opts;
    this.numAnchors = a;
    this.numClasses = k;
    const conv = (inC: number, outC: number, biasValue = 0): Conv2d =>
      new Conv2d({ inChannels: inC, outChannels: outC, kernelSize: 3, bias: true, init: { kind: 'normal', std: 0.01, biasValue }, rng });
    const tower = (): Conv2d[] => Array.from({ length: depth }, (_, i) => conv(i === 0 ? inChannels : channels, channels));
    const towerOut = depth > 0 ? channels : inChannels;
    const prior = -Math.log((1 - opts.priorProbability) / opts.priorProbability);
    this.cls = new Branch(tower(), conv(towerOut, a * k, prior), 'logits', 'head-cls');
    this.box = new Branch(tower(), conv(towerOut, a * 4), 'deltas', 'head-box');
  }

  /** P3..P7 -> clsLogits [N, sum_l H_l*W_l*A, K], boxDeltas [N, sum_l H_l*W_l*A, 4]. */
  forward(features: tf.Tensor4D[], ctx: ForwardContext, prefix = 'head'): { clsLogits: tf.Tensor3D; boxDeltas: tf.Tensor3D } {
    return tf.tidy(() => {
      const logits: tf.Tensor3D[] = [];
      const deltas: tf.Tensor3D[] = [];
      for (const f of features) {
        const [n, h, w] = f.shape;
        logits.push(tf.reshape(this.cls.forward(f, ctx, `${prefix}.cls`), [n, h * w * this.numAnchors, this.numClasses]));
        deltas.push(tf.reshape(this.box.forward(f, ctx, `${prefix}.box`), [n, h * w * this.numAnchors, 4]));
      }
      return { clsLogits: tf.concat(logits, 1), boxDeltas: tf.concat(deltas, 1) };
    });
  }

  params(): NamedParam[] {
    return [...prefixed('cls', this.cls.params()), ...prefixed('box', this.box.params())];
  }

  buffers(): NamedBuffer[] {
    return [];
  }

  dispose(): void {
    this.cls.dispose();
    this.box.dispose();
  }
}
