/**
 * RetinaNet post-processing on plain arrays read back from the head's tensors, in the order of torchvision 0.14's
 * `RetinaNet.postprocess_detections`: per level, sigmoid scores above the threshold, the top-k of them, decode,
 * clip to the image; then class-wise NMS over all levels and the best `detectionsPerImage`.
 */

import { decodeOne, type BoxCoderWeights } from '../boxes/box-coder.js';
import { batchedNms } from '../boxes/nms.js';
import type { ModelConfig } from '../config/types.js';

const f = Math.fround;

/** One level's head outputs for one image, with that level's anchors. */
export interface LevelOutputs {
  /** `[HWA*K]` classification logits, anchor-major (`logits[a*K + k]`). */
  logits: Float32Array;
  /** `[HWA*4]` box deltas. */
  deltas: Float32Array;
  /** `[HWA*4]` xyxy anchors. */
  anchors: Float32Array;
}

export interface Detections {
  /** `[D*4]` xyxy */
  boxes: Float32Array;
  /** `[D]` descending */
  scores: Float32Array;
  /** `[D]` contiguous labels 0..K-1 */
  labels: Int32Array;
}

export type PostprocessConfig = Pick<
  ModelConfig,
  'scoreThreshold' | 'topkCandidates' | 'nmsThreshold' | 'detectionsPerImage' | 'boxCoderWeights'
>;

/** Sigmoid as `torch.sigmoid` computes it on float32: `1 / (1 + exp(-x))`, every step rounded to float32. */
function sigmoid(x: number): number {
  return f(1 / f(1 + f(Math.exp(-x))));
}

function grow<T extends Int32Array | Float32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/**
 * Positions of the `k` largest `scores`, by descending score, equal scores by ascending position (what
 * `torch.topk` gave on every tie we tried). Linear-time selection of the k-th largest, then a sort of k values.
 */
export function topK(scores: Float32Array, k: number): Int32Array {
  const n = scores.length;
  if (k <= 0 || n === 0) return new Int32Array(0);
  let chosen: Int32Array;
  if (k >= n) {
    chosen = Int32Array.from({ length: n }, (_, i) => i);
  } else {
    const kth = kthLargest(Float32Array.from(scores), k);
    let above = 0;
    for (let i = 0; i < n; i++) if (scores[i]! > kth) above++;
    chosen = new Int32Array(k);
    let c = 0;
    let ties = k - above; // how many of the scores equal to the k-th largest fit, lowest positions first
    for (let i = 0; i < n && c < k; i++) {
      const s = scores[i]!;
      if (s > kth) chosen[c++] = i;
      else if (s === kth && ties > 0) {
        chosen[c++] = i;
        ties--;
      }
    }
  }
  return chosen.sort((a, b) => scores[b]! - scores[a]! || a - b);
}

/** The k-th largest value (1-based) of `values`, which it reorders (Hoare quickselect, median-of-three). */
function kthLargest(values: Float32Array, k: number): number {
  let lo = 0;
  let hi = values.length - 1;
  const target = k - 1; // position in descending order
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const a = values[lo]!;
    const b = values[mid]!;
    const c = values[hi]!;
    const pivot = a > b ? (b > c ? b : a > c ? c : a) : a > c ? a : b > c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! > pivot) i++;
      while (values[j]! < pivot) j--;
      if (i <= j) {
        const tmp = values[i]!;
        values[i] = values[j]!;
        values[j] = tmp;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return values[target]!;
  }
  return values[target]!;
}

/**
 * One level's top-k: flat indices (`anchor * K + class`) and scores of the `k` best scores above `threshold`, by
 * descending score, ties by index — torchvision's `scores > thresh` then `topk`. Scores (float32 sigmoid) are only
 * computed for logits that can still make the cut: when more than k logits pass the floor, the sigmoid is monotone,
 * so the k-th largest score is the sigmoid of the k-th largest logit `lk`, and logits below a bound whose score is
 * already below it (found by stepping down from `lk`) cannot be in the top k, ties included.
 */
export function levelTopK(
  logits: Float32Array,
  threshold: number,
  logitFloor: number,
  k: number,
): { flat: Int32Array; scores: Float32Array } {
  let idx = new Int32Array(1024);
  let val = new Float32Array(1024);
  let n = 0;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    if (!(x > logitFloor)) continue;
    if (n === idx.length) {
      idx = grow(idx, new Int32Array(2 * n));
      val = grow(val, new Float32Array(2 * n));
    }
    idx[n] = i;
    val[n++] = x;
  }
  let lower = -Infinity;
  if (k > 0 && n > k) {
    const lk = kthLargest(val.slice(0, n), k);
    const sk = sigmoid(lk);
    let delta = Math.max(1e-6, Math.abs(lk) * 1e-6);
    while (sigmoid(lk - delta) >= sk) delta *= 2;
    lower = lk - delta;
  }
  const candIdx = new Int32Array(n);
  const candScore = new Float32Array(n);
  let m = 0;
  for (let j = 0; j < n; j++) {
    if (!(val[j]! > lower)) continue;
    const s = sigmoid(val[j]!);
    if (s > threshold) {
      candIdx[m] = idx[j]!;
      candScore[m++] = s;
    }
  }
  const order = topK(candScore.subarray(0, m), k);
  return { flat: order.map((j) => candIdx[j]!), scores: Float32Array.from(order, (j) => candScore[j]!) };
}

/**
 * Detections of one image.
 *
 * @param levels per-level outputs, P3 first.
 * @param numClasses K.
 * @param imageSize `[height, width]` of the resized image before padding: boxes are clipped to it.
 */
export function postprocessDetections(
  levels: readonly LevelOutputs[],
  numClasses: number,
  imageSize: readonly [number, number],
  cfg: PostprocessConfig,
): Detections {
  const [height, width] = imageSize;
  const boxes: number[] = [];
  const scores: number[] = [];
  const labels: number[] = [];
  // Logits below this cannot pass the score threshold; a small margin leaves the exact test to the float32 sigmoid.
  const logitFloor = Math.log(cfg.scoreThreshold / (1 - cfg.scoreThreshold)) - 1e-3;
  // torch compares the float32 scores with the threshold rounded to float32 (0.05 -> 0.0500000007)
  const threshold = f(cfg.scoreThreshold);
  const decoded = new Float32Array(4);
  levels.forEach((level, l) => {
    const count = level.anchors.length / 4;
    if (level.logits.length !== count * numClasses || level.deltas.length !== count * 4) {
      throw new Error(`postprocess: level ${l} has ${count} anchors, ${level.logits.length} logits, ${level.deltas.length} deltas`);
    }
    const top = levelTopK(level.logits, threshold, logitFloor, cfg.topkCandidates);
    for (let r = 0; r < top.flat.length; r++) {
      const flat = top.flat[r]!;
      const anchor = Math.floor(flat / numClasses);
      decodeOne(level.anchors, anchor, level.deltas, anchor, cfg.boxCoderWeights as BoxCoderWeights, decoded, 0);
      boxes.push(
        Math.min(Math.max(decoded[0]!, 0), width),
        Math.min(Math.max(decoded[1]!, 0), height),
        Math.min(Math.max(decoded[2]!, 0), width),
        Math.min(Math.max(decoded[3]!, 0), height),
      );
      scores.push(top.scores[r]!);
      labels.push(flat % numClasses);
    }
  });

  const allBoxes = Float32Array.from(boxes);
  const allScores = Float32Array.from(scores);
  const allLabels = Int32Array.from(labels);
  const keep = batchedNms(allBoxes, allScores, allLabels, cfg.nmsThreshold).subarray(0, cfg.detectionsPerImage);
  const out: Detections = {
    boxes: new Float32Array(keep.length * 4),
    scores: new Float32Array(keep.length),
    labels: new Int32Array(keep.length),
  };
  keep.forEach((i, d) => {
    out.boxes.set(allBoxes.subarray(4 * i, 4 * i + 4), 4 * d);
    out.scores[d] = allScores[i]!;
    out.labels[d] = allLabels[i]!;
  });
  return out;
}

/**
 * Maps `[D*4]` xyxy boxes from resized-image pixels back to the original image, as torchvision's
 * `transform.postprocess` (`resize_boxes`) does: x times `originalWidth / resizedWidth` and y times
 * `originalHeight / resizedHeight`, ratios in float32.
 */
export function resizeBoxesToOriginal(
  boxes: Float32Array,
  resizedSize: readonly [number, number],
  originalSize: readonly [number, number],
): Float32Array {
  const ratioH = f(f(originalSize[0]) / f(resizedSize[0]));
  const ratioW = f(f(originalSize[1]) / f(resizedSize[1]));
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    out[i] = boxes[i]! * ratioW;
    out[i + 1] = boxes[i + 1]! * ratioH;
    out[i + 2] = boxes[i + 2]! * ratioW;
    out[i + 3] = boxes[i + 3]! * ratioH;
  }
  return out;
}

/**
 * Maps `[D*4]` xyxy boxes back to the original image by dividing by the per-axis resize factors
 * (`scaleX = resized / original`, as a `Sample` carries them).
 */
export function unscaleBoxes(boxes: Float32Array, scaleX: number, scaleY: number): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    out[i] = boxes[i]! / scaleX;
    out[i + 1] = boxes[i + 1]! / scaleY;
    out[i + 2] = boxes[i + 2]! / scaleX;
    out[i + 3] = boxes[i + 3]! / scaleY;
  }
  return out;
}
