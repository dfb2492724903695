import * as tf from '@tensorflow/tfjs-core';
import type { ActivationProbe } from '../analysis/probe.js';
import { anchorsPerLevel, generateAnchors, splitLevels } from '../boxes/anchors.js';
import { assignBatchTargets, type GroundTruth } from '../boxes/targets.js';
import type { ModelConfig } from '../config/types.js';
import { retinanetLosses, targetTensors } from '../model/losses.js';
import { postprocessDetections, type Detections } from '../model/postprocess.js';
import type { RetinaNet } from '../model/retinanet.js';

/**
 * RetinaNet's training and inference around its forward pass: anchors for the padded batch (cached per batch
 * size), targets from the matcher and box coder, focal + box losses; and post-processing to per-image detections.
 * Holds no tensors of its own.
 */
export class RetinaNetTask {
  private readonly anchorCache = new Map<string, { anchors: Float32Array; counts: number[] }>();

  constructor(
    readonly model: RetinaNet,
    readonly cfg: ModelConfig,
  ) {}

  /**
   * The loss terms of a batch: images `[N, H, W, 3]` (normalised, padded), one ground truth per image in padded
   * pixels (a `Sample` is one). Call inside `tf.variableGrads`: the forward pass runs in training mode.
   */
  losses(images: tf.Tensor4D, gts: readonly GroundTruth[], probe?: ActivationProbe): { lossCls: tf.Scalar; lossBox: tf.Scalar } {
    return tf.tidy(() => {
      const out = this.model.forward(images, probe === undefined ? { training: true } : { training: true, probe });
      const { anchors } = this.anchorsFor(images.shape[1], images.shape[2], out.features);
      const numAnchors = anchors.length / 4;
      const targets = assignBatchTargets(anchors, gts, this.cfg);
      const t = targetTensors(targets, numAnchors);
      const giou = this.cfg.boxLoss === 'giou';
      return retinanetLosses(
        {
          clsLogits: out.clsLogits,
          boxDeltas: out.boxDeltas,
          clsTargets: t.clsTargets,
          boxTargets: t.boxTargets,
          numForeground: targets.numForeground,
          ...(giou ? { anchors: tf.tensor2d(anchors, [numAnchors, 4]), matchedBoxes: t.matchedBoxes } : {}),
        },
        this.cfg,
      );
    });
  }

  /**
   * Detections per image, boxes xyxy in the resized image's pixels clipped to `imageSizes[n]` (`[height, width]`
   * before padding), labels contiguous. Inference mode (running statistics).
   */
  async detect(images: tf.Tensor4D, imageSizes: readonly (readonly [number, number])[]): Promise<Detections[]> {
    const out = this.model.forward(images, { training: false });
    const { anchors, counts } = this.anchorsFor(images.shape[1], images.shape[2], out.features);
    let logits: Float32Array;
    let deltas: Float32Array;
    try {
      [logits, deltas] = (await Promise.all([out.clsLogits.data(), out.boxDeltas.data()])) as [Float32Array, Float32Array];
    } finally {
      tf.dispose([out.clsLogits, out.boxDeltas, ...out.features]);
    }
    const n = images.shape[0];
    const k = this.cfg.numClasses;
    const numAnchors = anchors.length / 4;
    const anchorLevels = splitLevels(anchors, counts, 4);
    const results: Detections[] = [];
    for (let i = 0; i < n; i++) {
      const logitLevels = splitLevels(logits.subarray(i * numAnchors * k, (i + 1) * numAnchors * k), counts, k);
      const deltaLevels = splitLevels(deltas.subarray(i * numAnchors * 4, (i + 1) * numAnchors * 4), counts, 4);
      const levels = anchorLevels.map((a, l) => ({ anchors: a, logits: logitLevels[l]!, deltas: deltaLevels[l]! }));
      results.push(postprocessDetections(levels, k, imageSizes[i]! as [number, number], this.cfg));
    }
    return results;
  }

  private anchorsFor(height: number, width: number, features: readonly tf.Tensor4D[]): { anchors: Float32Array; counts: number[] } {
    const featureSizes = features.map((f) => [f.shape[1], f.shape[2]] as [number, number]);
    const key = `${height}x${width}`;
    let entry = this.anchorCache.get(key);
    if (entry === undefined) {
      const opts = {
        sizes: this.cfg.anchorSizes,
        scales: this.cfg.anchorScales,
        aspectRatios: this.cfg.aspectRatios,
        imageHeight: height,
        imageWidth: width,
        featureSizes,
      };
      entry = { anchors: generateAnchors(opts), counts: anchorsPerLevel(opts) };
      this.anchorCache.set(key, entry);
    }
    return entry;
  }
}
