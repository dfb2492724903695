import * as tf from '@tensorflow/tfjs-core';
import { anchorsPerLevel, generateAnchors, splitLevels } from '../boxes/anchors.js';
import type { ModelConfig } from '../config/types.js';
import { postprocessDetections, type Detections, type LevelOutputs } from '../model/postprocess.js';

/** What turning head outputs into detections needs from the model config. */
export type DetectConfig = Pick<
  ModelConfig,
  | 'anchorSizes'
  | 'anchorScales'
  | 'aspectRatios'
  | 'numClasses'
  | 'scoreThreshold'
  | 'topkCandidates'
  | 'nmsThreshold'
  | 'detectionsPerImage'
  | 'boxCoderWeights'
>;

/**
 * Detections of a batch from its head outputs: anchors for the padded batch size, then per image torchvision's
 * post-processing (score threshold, top-k per level, decode, clip to the image, class-wise NMS).
 *
 * @param clsLogits [N, A_total, K] logits, anchors level-major then y, x, cell anchor.
 * @param boxDeltas [N, A_total, 4].
 * @param featureSizes [h, w] of P3..P7.
 * @param paddedSize [height, width] of the padded batch tensor.
 * @param imageSizes [height, width] of each resized image before padding.
 */
export async function detectionsFromHeads(
  clsLogits: tf.Tensor3D,
  boxDeltas: tf.Tensor3D,
  featureSizes: readonly (readonly [number, number])[],
  paddedSize: readonly [number, number],
  imageSizes: readonly (readonly [number, number])[],
  cfg: DetectConfig,
): Promise<Detections[]> {
  const anchorOpts = {
    sizes: cfg.anchorSizes,
    scales: cfg.anchorScales,
    aspectRatios: cfg.aspectRatios,
    imageHeight: paddedSize[0],
    imageWidth: paddedSize[1],
    featureSizes,
  };
  const anchors = generateAnchors(anchorOpts);
  const counts = anchorsPerLevel(anchorOpts);
  const total = counts.reduce((a, b) => a + b, 0);
  const k = cfg.numClasses;
  if (clsLogits.shape[1] !== total || boxDeltas.shape[1] !== total) {
    throw new Error(`detect: ${total} anchors but head outputs have ${clsLogits.shape[1]} / ${boxDeltas.shape[1]}`);
  }
  // Async reads: GPU backends cannot read synchronously.
  const logits = (await clsLogits.data()) as Float32Array;
  const deltas = (await boxDeltas.data()) as Float32Array;
  const levelAnchors = splitLevels(anchors, counts, 4);
  return imageSizes.map((size, n) => {
    const imgLogits = splitLevels(logits.subarray(n * total * k, (n + 1) * total * k), counts, k);
    const imgDeltas = splitLevels(deltas.subarray(n * total * 4, (n + 1) * total * 4), counts, 4);
    const levels: LevelOutputs[] = counts.map((_, l) => ({ logits: imgLogits[l]!, deltas: imgDeltas[l]!, anchors: levelAnchors[l]! }));
    return postprocessDetections(levels, k, [size[0], size[1]], cfg);
  });
}

