import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from '../data/types.js';
import { cocoEvaluate, type CocoEvalResult, type GroundTruthSet } from '../eval/cocoeval.js';
import { statNames } from '../eval/report.js';
import { detectionsForImage, toDetectionSet, writeResultsJson, type CocoDetection } from '../eval/results.js';

/** Detections of one image in the resized image's pixels (xyxy), contiguous labels. */
export interface ImageDetections {
  boxes: Float32Array;
  scores: Float32Array;
  labels: Int32Array;
}

/** What evaluation needs of a detector: normalised padded images in, per-image detections out. */
export interface Detector {
  detect(images: tf.Tensor4D, imageSizes: [number, number][]): Promise<ImageDetections[]>;
}

export interface EvaluateOptions {
  /** Turns a batch into the network input ([N, H, W, 3], normalised and padded). */
  toTensor: (batch: Batch) => tf.Tensor4D;
  /** Contiguous label -> COCO category id. */
  categoryIdOf: (label: number) => number;
  /** Where to write `results_<tag>.json`; nothing is written when absent. */
  outDir?: string;
  tag?: string;
}

export interface EvaluationResult {
  /** The 12 COCO stats by name: AP, AP50, AP75, APs, APm, APl, AR@1, AR@10, AR@100, ARs, ARm, ARl. */
  stats: Record<string, number>;
  result: CocoEvalResult;
  detections: CocoDetection[];
  images: number;
  seconds: number;
}

/**
 * Runs `detector` over `batches` (one ordered pass), maps the boxes back to original-image pixels (undoing the
 * resize and a flip), writes the COCO results JSON and scores it against `gt`, restricted to the images seen.
 */
export async function evaluateDetector(
  detector: Detector,
  batches: AsyncIterable<Batch>,
  gt: GroundTruthSet,
  opts: EvaluateOptions,
): Promise<EvaluationResult> {
  const start = performance.now();
  const detections: CocoDetection[] = [];
  const imageIds: number[] = [];
  for await (const batch of batches) {
    const images = opts.toTensor(batch);
    let perImage: ImageDetections[];
    try {
      perImage = await detector.detect(
        images,
        batch.samples.map((s) => [s.height, s.width]),
      );
    } finally {
      images.dispose();
    }
    batch.samples.forEach((sample, i) => {
      imageIds.push(sample.imageId);
      const d = perImage[i]!;
      const boxes = toOriginalPixels(d.boxes, sample);
      const categories = Array.from(d.labels, (l) => opts.categoryIdOf(l));
      detections.push(...detectionsForImage(sample.imageId, boxes, d.scores, categories));
    });
  }
  if (opts.outDir !== undefined) {
    mkdirSync(opts.outDir, { recursive: true });
    writeResultsJson(join(opts.outDir, `results_${opts.tag ?? 'val'}.json`), detections);
  }
  const result = cocoEvaluate(gt, toDetectionSet(detections), { imgIds: imageIds });
  const names = statNames(result.params);
  const stats = Object.fromEntries(names.map((n, i) => [n, result.stats[i]!]));
  return { stats, result, detections, images: imageIds.length, seconds: (performance.now() - start) / 1000 };
}

/**
 * xyxy boxes in the resized (possibly flipped) image -> xyxy in the original image:
 * x_orig = x / scaleX (after un-flipping x -> width - x), y_orig = y / scaleY.
 */
export function toOriginalPixels(
  boxes: Float32Array,
  sample: { width: number; scaleX: number; scaleY: number; flipped: boolean },
): Float64Array {
  const out = new Float64Array(boxes.length);
  for (let j = 0; j < boxes.length; j += 4) {
    let x1 = boxes[j]!;
    let x2 = boxes[j + 2]!;
    if (sample.flipped) [x1, x2] = [sample.width - x2, sample.width - x1];
    out[j] = x1 / sample.scaleX;
    out[j + 1] = boxes[j + 1]! / sample.scaleY;
    out[j + 2] = x2 / sample.scaleX;
    out[j + 3] = boxes[j + 3]! / sample.scaleY;
  }
  return out;
}
