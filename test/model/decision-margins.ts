/**
 * How far a post-processing input is from changing its detections: the margins of every discrete decision that
 * torchvision 0.14's `RetinaNet.postprocess_detections` takes on it. Two implementations whose logits differ by less
 * than half the logit margin, and whose boxes move less than the IoU margin allows, take every decision the same
 * way: same candidates, same NMS survivors, same order. A comparison of detections from two forward passes is only
 * sound on a fixture with margins well above the float noise between them; these numbers say whether it is.
 *
 * The decisions, per image:
 * - `threshold`: sigmoid(logit) > score threshold, for every logit: |logit - logit(threshold)|;
 * - `topk`: the per-level cut to `topkCandidates` when more pass: the logit gap at the cut;
 * - `iou`: for every same-class pair of candidates with at least one kept by NMS, |IoU - nmsThreshold| (pairs of
 *   two suppressed boxes decide nothing);
 * - `nmsOrder`: for those pairs that overlap (IoU above the threshold), the logit gap: which one wins;
 * - `keptOrder`: the logit gaps between neighbouring kept detections (the output order, and the
 *   `detectionsPerImage` cut).
 */

import { decodeBoxes } from '../../src/boxes/box-coder.js';
import { pairwiseIou } from '../../src/boxes/iou.js';
import { batchedNms } from '../../src/boxes/nms.js';
import type { LevelOutputs, PostprocessConfig } from '../../src/model/postprocess.js';

export interface DecisionMargins {
  /** Logit margins of the score-threshold, top-k, NMS-order and output-order decisions (Infinity: none taken). */
  threshold: number;
  topk: number;
  nmsOrder: number;
  keptOrder: number;
  /** The smallest of the four logit margins. */
  logit: number;
  /** IoU margin of the NMS suppression decisions. */
  iou: number;
  /** Candidates into NMS, detections out, levels with at least one candidate. */
  candidates: number;
  detections: number;
  levelsWithCandidates: number;
}

/** Margins of one image's post-processing (`levels`: P3 first, as `postprocessDetections` takes them). */
export function decisionMargins(
  levels: readonly LevelOutputs[],
  numClasses: number,
  imageSize: readonly [number, number],
  cfg: PostprocessConfig,
): DecisionMargins {
  const [height, width] = imageSize;
  const t = Math.fround(cfg.scoreThreshold); // torch compares float32 scores with the float32 threshold
  const thresholdLogit = Math.log(t / (1 - t));
  const m = { threshold: Infinity, topk: Infinity, nmsOrder: Infinity, keptOrder: Infinity, iou: Infinity };
  const logits: number[] = [];
  const labels: number[] = [];
  const boxes: number[] = [];
  let levelsWithCandidates = 0;
  for (const level of levels) {
    const passing: number[] = [];
    level.logits.forEach((x, i) => {
      m.threshold = Math.min(m.threshold, Math.abs(x - thresholdLogit));
      if (x > thresholdLogit) passing.push(i);
    });
    passing.sort((a, b) => level.logits[b]! - level.logits[a]! || a - b);
    const k = cfg.topkCandidates;
    if (passing.length > k) m.topk = Math.min(m.topk, level.logits[passing[k - 1]!]! - level.logits[passing[k]!]!);
    const chosen = passing.slice(0, k);
    if (chosen.length > 0) levelsWithCandidates++;
    const anchors = new Float32Array(4 * chosen.length);
    const deltas = new Float32Array(4 * chosen.length);
    chosen.forEach((flat, r) => {
      const a = Math.floor(flat / numClasses);
      anchors.set(level.anchors.subarray(4 * a, 4 * a + 4), 4 * r);
      deltas.set(level.deltas.subarray(4 * a, 4 * a + 4), 4 * r);
      logits.push(level.logits[flat]!);
      labels.push(flat % numClasses);
    });
    decodeBoxes(anchors, deltas, cfg.boxCoderWeights).forEach((v, c) => boxes.push(Math.min(Math.max(v, 0), c % 2 === 0 ? width : height)));
  }
  const n = logits.length;
  const allBoxes = Float32Array.from(boxes);
  const keep = batchedNms(allBoxes, Float32Array.from(logits), Int32Array.from(labels), cfg.nmsThreshold);
  const kept = new Uint8Array(n);
  keep.forEach((i) => (kept[i] = 1));
  const iou = pairwiseIou(allBoxes, allBoxes);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (labels[i] !== labels[j] || !(kept[i] || kept[j])) continue;
      const v = iou[i * n + j]!;
      m.iou = Math.min(m.iou, Math.abs(v - cfg.nmsThreshold));
      if (v > cfg.nmsThreshold) m.nmsOrder = Math.min(m.nmsOrder, Math.abs(logits[i]! - logits[j]!));
    }
  }
  const shown = keep.subarray(0, cfg.detectionsPerImage + 1);
  for (let d = 1; d < shown.length; d++) m.keptOrder = Math.min(m.keptOrder, logits[shown[d - 1]!]! - logits[shown[d]!]!);
  return {
    ...m,
    logit: Math.min(m.threshold, m.topk, m.nmsOrder, m.keptOrder),
    candidates: n,
    detections: Math.min(keep.length, cfg.detectionsPerImage),
    levelsWithCandidates,
  };
}
