import * as tf from '@tensorflow/tfjs-core';
import type { ActivationProbe } from '../analysis/probe.js';
import { Fpn } from './fpn.js';
import { prefixed, type Module, type NamedBuffer, type NamedParam } from './module.js';
import { RetinaNetHead } from './retinanet-head.js';
import { ResNet } from './resnet.js';

/** The outputs of one forward pass. */
export interface RetinaNetOutputs {
  /** P3..P7, each [N, H_l, W_l, fpnChannels]. */
  features: tf.Tensor4D[];
  /** [N, A_total, K] classification logits, anchors ordered level, y, x, anchor (torchvision's order). */
  clsLogits: tf.Tensor3D;
  /** [N, A_total, 4] box deltas (dx, dy, dw, dh) in the same order. */
  boxDeltas: tf.Tensor3D;
}

export interface ForwardOptions {
  /** Training mode: BN / psBN use batch statistics and update their running ones (unless norm eval / frozen). */
  training: boolean;
  probe?: ActivationProbe;
}

/**
 * RetinaNet assembled from the parts handed to it: a ResNet body (`backbone`), an FPN (`fpn`) and a shared head
 * (`head`). Parameter names are prefixed with those part names.
 */
export class RetinaNet implements Module {
  constructor(
    readonly backbone: ResNet,
    readonly fpn: Fpn,
    readonly head: RetinaNetHead,
  ) {}

  /**
   * images [N, H, W, 3] (normalised, padded) -> P3..P7, logits, deltas. Every ReLU site is shown to `opts.probe`.
   * The caller owns the returned tensors.
   */
  forward(images: tf.Tensor4D, opts: ForwardOptions): RetinaNetOutputs {
    return tf.tidy(() => {
      const ctx = { training: opts.training, probe: opts.probe };
      const c = this.backbone.forward(images, ctx, 'backbone');
      const features = this.fpn.forward(c, ctx, 'fpn');
      const { clsLogits, boxDeltas } = this.head.forward(features, ctx, 'head');
      return { features: [...features], clsLogits, boxDeltas };
    });
  }

  params(): NamedParam[] {
    return [
      ...prefixed('backbone', this.backbone.params()),
      ...prefixed('fpn', this.fpn.params()),
      ...prefixed('head', this.head.params()),
    ];
  }

  buffers(): NamedBuffer[] {
    return [...prefixed('backbone', this.backbone.buffers()), ...prefixed('fpn', this.fpn.buffers()), ...prefixed('head', this.head.buffers())];
  }

  /** The variables the optimizer updates (trainable parameters only). */
  trainableVariables(): tf.Variable[] {
    return this.params()
      .filter((p) => p.trainable)
      .map((p) => p.variable);
  }

  dispose(): void {
    this.backbone.dispose();
    this.fpn.dispose();
    this.head.dispose();
  }
}
