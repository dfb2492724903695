import * as tf from '@tensorflow/tfjs-core';
import type { ActivationProbe } from '../analysis/probe.js';
import { anchorsPerLevel, generateAnchors } from '../boxes/anchors.js';
import { assignBatchTargets, type GroundTruth } from '../boxes/targets.js';
import type { ModelConfig } from '../config/types.js';
import { Fpn } from './fpn.js';
import { retinanetLosses, targetTensors } from './losses.js';
import { prefixed, type Module, type NamedBuffer, type NamedParam } from './module.js';
import { postprocessDetections, type Detections, type LevelOutputs } from './postprocess.js';
import { RetinaNetHead } from './retinanet-head.js';
import { ResNet } from './resnet.js';

/** The config values the detector itself uses (anchors, targets, losses, post-processing). */
export type RetinaNetSettings = Pick<
  ModelConfig,
  | 'anchorSizes'
  | 'anchorScales'
  | 'aspectRatios'
  | 'matcherHighThreshold'
  | 'matcherLowThreshold'
  | 'matcherAllowLowQuality'
  | 'boxCoderWeights'
  | 'boxLoss'
  | 'smoothL1Beta'
  | 'focalAlpha'
  | 'focalGamma'
  | 'scoreThreshold'
  | 'topkCandidates'
  | 'nmsThreshold'
  | 'detectionsPerImage'
>;

/** Ground truth of one image for the losses: xyxy boxes in padded-image pixels, labels 0..K-1, crowd regions. */
export type ImageTargets = GroundTruth;

export interface LossOptions {
  probe?: ActivationProbe;
}

/**
 * Side of a feature map after `halvings` stride-2 layers of torchvision's ResNet / FPN (conv 7x7 p3, max-pool 3x3
 * p1, conv 3x3 p1, conv 1x1 p0 with stride 2 all map L to floor((L - 1) / 2) + 1).
 */
export function featureSide(side: number, halvings: number): number {
  let l = side;
  for (let i = 0; i < halvings; i++) l = Math.floor((l - 1) / 2) + 1;
  return l;
}

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
  private readonly anchorCache = new Map<string, Float32Array>();

  constructor(
    readonly backbone: ResNet,
    readonly fpn: Fpn,
    readonly head: RetinaNetHead,
    readonly settings: RetinaNetSettings,
  ) {
    const a = settings.anchorScales.length * settings.aspectRatios.length;
    if (a !== head.numAnchors) throw new Error(`RetinaNet: the head predicts ${head.numAnchors} anchors per location, the anchor settings give ${a}`);
  }

  /** [h, w] of P3..P7 for a padded batch of (height, width). */
  featureSizes(paddedHeight: number, paddedWidth: number): [number, number][] {
    return [3, 4, 5, 6, 7].map((halvings) => [featureSide(paddedHeight, halvings), featureSide(paddedWidth, halvings)]);
  }

  /**
   * Anchors of a padded batch size, `[A_total * 4]` xyxy in the order of the head's outputs (torchvision's anchors
   * exactly). Cached per size; do not modify the returned array.
   */
  anchorsFor(paddedHeight: number, paddedWidth: number): Float32Array {
    const key = `${paddedHeight}x${paddedWidth}`;
    let anchors = this.anchorCache.get(key);
    if (anchors === undefined) {
      anchors = generateAnchors({
        sizes: this.settings.anchorSizes,
        scales: this.settings.anchorScales,
        aspectRatios: this.settings.aspectRatios,
        imageHeight: paddedHeight,
        imageWidth: paddedWidth,
        featureSizes: this.featureSizes(paddedHeight, paddedWidth),
      });
      this.anchorCache.set(key, anchors);
    }
    return anchors;
  }

  /**
   * Training losses of a batch: a training-mode forward, targets assigned to the batch's anchors (matcher, crowd
   * ignore), focal and box losses normalised as torchvision. Call inside `tf.variableGrads`; the caller disposes
   * the two scalars.
   *
   * @param images [N, H, W, 3] normalised, padded.
   * @param targets one per image: boxes `[M*4]` xyxy in padded-image pixels, labels `[M]`, crowdBoxes `[G*4]`.
   */
  computeLosses(images: tf.Tensor4D, targets: readonly ImageTargets[], opts: LossOptions = {}): { lossCls: tf.Scalar; lossBox: tf.Scalar } {
    const [n, height, width] = images.shape;
    if (targets.length !== n) throw new Error(`computeLosses: ${targets.length} targets for ${n} images`);
    const anchors = this.anchorsFor(height, width);
    const numAnchors = anchors.length / 4;
    const batch = assignBatchTargets(anchors, targets, this.settings);
    return tf.tidy(() => {
      const out = this.forward(images, { training: true, probe: opts.probe });
      if (out.clsLogits.shape[1] !== numAnchors) {
        throw new Error(`computeLosses: the head gives ${out.clsLogits.shape[1]} anchors, the anchor generator ${numAnchors}`);
      }
      const t = targetTensors(batch, numAnchors);
      const giou = this.settings.boxLoss === 'giou';
      return retinanetLosses(
        {
          clsLogits: out.clsLogits,
          boxDeltas: out.boxDeltas,
          clsTargets: t.clsTargets,
          boxTargets: t.boxTargets,
          numForeground: batch.numForeground,
          ...(giou ? { anchors: tf.tensor2d(anchors, [numAnchors, 4]), matchedBoxes: t.matchedBoxes } : {}),
        },
        this.settings,
      );
    });
  }

  /**
   * Detections of a batch in eval mode: one forward, the logits and deltas read back asynchronously, then per image
   * torchvision's post-processing (score threshold, top-k per level, decode, clip to `imageSizes[i]` = [h, w] of the
   * image before padding, class-wise NMS, best `detectionsPerImage`). Boxes are xyxy in resized-image pixels.
   */
  async detect(images: tf.Tensor4D, imageSizes: readonly (readonly [number, number])[]): Promise<Detections[]> {
    const [n, height, width] = images.shape;
    if (imageSizes.length !== n) throw new Error(`detect: ${imageSizes.length} image sizes for ${n} images`);
    const { clsLogits, boxDeltas } = tf.tidy(() => {
      const out = this.forward(images, { training: false });
      return { clsLogits: out.clsLogits, boxDeltas: out.boxDeltas };
    });
    let logits: Float32Array;
    let deltas: Float32Array;
    try {
      [logits, deltas] = (await Promise.all([clsLogits.data(), boxDeltas.data()])) as [Float32Array, Float32Array];
    } finally {
      tf.dispose([clsLogits, boxDeltas]);
    }
    const anchors = this.anchorsFor(height, width);
    const counts = anchorsPerLevel({
      scales: this.settings.anchorScales,
      aspectRatios: this.settings.aspectRatios,
      featureSizes: this.featureSizes(height, width),
    });
    const total = anchors.length / 4;
    const k = this.head.numClasses;
    return imageSizes.map((size, i) => {
      const levels: LevelOutputs[] = [];
      let start = 0;
      for (const count of counts) {
        levels.push({
          logits: logits.subarray((i * total + start) * k, (i * total + start + count) * k),
          deltas: deltas.subarray((i * total + start) * 4, (i * total + start + count) * 4),
          anchors: anchors.subarray(start * 4, (start + count) * 4),
        });
        start += count;
      }
      return postprocessDetections(levels, k, [size[0], size[1]], this.settings);
    });
  }

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
