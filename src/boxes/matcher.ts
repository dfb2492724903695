/**
 * Anchor-to-ground-truth matching, exactly torchvision 0.14's `Matcher(0.5, 0.4, allow_low_quality_matches=True)`.
 */

/** Matched value of an anchor whose best IoU is below the low threshold: background. */
export const BELOW_LOW_THRESHOLD = -1;
/** Matched value of an anchor whose best IoU lies in [low, high): ignored by the losses. */
export const BETWEEN_THRESHOLDS = -2;

export interface MatcherOptions {
  /** Best IoU >= this: the anchor is matched to that ground truth (foreground). */
  highThreshold: number;
  /** Best IoU < this: background; in between: ignore. */
  lowThreshold: number;
  /** Also match, for every ground truth, the anchors with its highest IoU (ties included), however low. */
  allowLowQuality: boolean;
}

/**
 * Matches anchors to ground truths from their IoU matrix `iou` (`[numGt * numAnchors]`, gt-major: `iou[g * A + a]`,
 * as `pairwiseIou(gtBoxes, anchors)` returns it) -> `[numAnchors]`: a ground-truth index >= 0, or
 * `BELOW_LOW_THRESHOLD` (-1) or `BETWEEN_THRESHOLDS` (-2).
 *
 * - Each anchor takes the ground truth of highest IoU (the lowest index among equal IoUs, as `torch.max` does).
 * - Best IoU < low: -1; low <= best IoU < high: -2.
 * - Low-quality matches: for each ground truth g, every anchor whose IoU with g equals g's highest IoU (ties
 *   included) gets back its own best ground truth (not necessarily g), whatever its threshold class was. As in
 *   torchvision this also applies when g's highest IoU is 0 (g overlaps no anchor): then every anchor with IoU 0
 *   to g is matched to its own best ground truth.
 * - No ground truth: every anchor is background (torchvision's RetinaNet does this before calling the matcher).
 */
export function matchAnchors(iou: Float32Array, numGt: number, numAnchors: number, opts: MatcherOptions): Int32Array {
  if (iou.length !== numGt * numAnchors) {
    throw new Error(`matchAnchors: IoU matrix has ${iou.length} values, expected ${numGt} x ${numAnchors}`);
  }
  if (opts.lowThreshold > opts.highThreshold) {
    throw new Error(`matchAnchors: lowThreshold ${opts.lowThreshold} exceeds highThreshold ${opts.highThreshold}`);
  }
  const matches = new Int32Array(numAnchors).fill(BELOW_LOW_THRESHOLD);
  if (numGt === 0) return matches;

  // Best ground truth per anchor (first index wins ties), and each ground truth's highest IoU.
  const bestGt = new Int32Array(numAnchors);
  const bestIou = new Float32Array(numAnchors).fill(-Infinity);
  const highestPerGt = new Float32Array(numGt);
  for (let g = 0; g < numGt; g++) {
    const row = g * numAnchors;
    let highest = -Infinity;
    for (let a = 0; a < numAnchors; a++) {
      const v = iou[row + a]!;
      if (v > highest) highest = v;
      if (v > bestIou[a]!) {
        bestIou[a] = v;
        bestGt[a] = g;
      }
    }
    highestPerGt[g] = highest;
  }
  // torch compares a float32 tensor with a Python float in float32: round the thresholds the same way.
  const low = Math.fround(opts.lowThreshold);
  const high = Math.fround(opts.highThreshold);
  for (let a = 0; a < numAnchors; a++) {
    const v = bestIou[a]!;
    matches[a] = v < low ? BELOW_LOW_THRESHOLD : v < high ? BETWEEN_THRESHOLDS : bestGt[a]!;
  }

  if (opts.allowLowQuality) {
    for (let g = 0; g < numGt; g++) {
      const row = g * numAnchors;
      const highest = highestPerGt[g]!;
      for (let a = 0; a < numAnchors; a++) {
        if (iou[row + a] === highest) matches[a] = bestGt[a]!;
      }
    }
  }
  return matches;
}
