import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng.js';
import { Conv2d } from './conv.js';
import { prefixed, type Module, type NamedBuffer, type NamedParam } from './module.js';
import { upsampleNearestTo } from './ops.js';
import { reluSite, type BackboneFeatures, type ForwardContext } from './resnet.js';

export interface FpnOptions {
  /** Channels of C3, C4, C5. */
  inChannels: [number, number, number];
  outChannels: number;
  /**
   * What P6 is computed from. torchvision's LastLevelP6P7(in, out) uses P5 exactly when in == out; its
   * retinanet_resnet50_fpn builds LastLevelP6P7(256, 256), so P6 comes from P5 there.
   */
  p6Input: 'p5' | 'c5';
  rng: Rng;
}

/** P3..P7: strides 8, 16, 32, 64, 128 (at sizes divisible by 128). */
export type PyramidFeatures = [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];

/**
 * Feature pyramid (torchvision FeaturePyramidNetwork + LastLevelP6P7): 1x1 laterals on C3..C5, nearest 2x top-down
 * sums, 3x3 outputs; P6 = conv3x3/2 on P5 (or C5), P7 = conv3x3/2(relu(P6)). All convs have bias, kaiming uniform
 * a = 1 init, bias 0. Names: `lateral3..5`, `output3..5`, `p6`, `p7`.
 */
export class Fpn implements Module {
  readonly outChannels: number;
  readonly p6Input: 'p5' | 'c5';
  readonly laterals: [Conv2d, Conv2d, Conv2d];
  readonly outputs: [Conv2d, Conv2d, Conv2d];
  readonly p6: Conv2d;
  readonly p7: Conv2d;

  constructor(opts: FpnOptions) {
    const { outChannels: outC, rng } = opts;
    this.outChannels = outC;
    this.p6Input = opts.p6Input;
    const conv = (inC: number, k: number, stride = 1): Conv2d =>
      new Conv2d({ inChannels: inC, outChannels: outC, kernelSize: k, stride, bias: true, init: { kind: 'fpn' }, rng });
    this.laterals = [conv(opts.inChannels[0], 1), conv(opts.inChannels[1], 1), conv(opts.inChannels[2], 1)];
    this.outputs = [conv(outC, 3), conv(outC, 3), conv(outC, 3)];
    this.p6 = conv(opts.p6Input === 'p5' ? outC : opts.inChannels[2], 3, 2);
    this.p7 = conv(outC, 3, 2);
  }

  /** C3..C5 -> [P3, P4, P5, P6, P7], each [N, Hi, Wi, outChannels]. */
  forward(c: BackboneFeatures, ctx: ForwardContext, prefix = 'fpn'): PyramidFeatures {
    return tf.tidy(() => {
      const [l3, l4, l5] = this.laterals;
      const [o3, o4, o5] = this.outputs;
      const inner5 = l5.apply(c.c5);
      const inner4 = topDown(l4.apply(c.c4), inner5);
      const inner3 = topDown(l3.apply(c.c3), inner4);
      const p5 = o5.apply(inner5);
      const p6 = this.p6.apply(this.p6Input === 'p5' ? p5 : c.c5);
      const p7 = this.p7.apply(reluSite(p6, ctx, 'fpn', `${prefix}.p6_relu`));
      return [o3.apply(inner3), o4.apply(inner4), p5, p6, p7] as PyramidFeatures;
    });
  }

  params(): NamedParam[] {
    return [
      ...this.laterals.flatMap((l, i) => prefixed(`lateral${i + 3}`, l.params())),
      ...this.outputs.flatMap((o, i) => prefixed(`output${i + 3}`, o.params())),
      ...prefixed('p6', this.p6.params()),
      ...prefixed('p7', this.p7.params()),
    ];
  }

  buffers(): NamedBuffer[] {
    return [];
  }

  dispose(): void {
    for (const c of [...this.laterals, ...this.outputs, this.p6, this.p7]) c.dispose();
  }
}

/** lateral + nearest-upsampled coarser level, sized like the lateral (torch interpolate to size). */
function topDown(lateral: tf.Tensor4D, coarser: tf.Tensor4D): tf.Tensor4D {
  return tf.add(lateral, upsampleNearestTo(coarser, lateral.shape[1], lateral.shape[2]));
}
