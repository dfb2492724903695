/**
 * Per-anchor training targets of one image: which anchors are foreground (and of which class), background or
 * ignored, and the box deltas the regression head should predict.
 */

import type { ModelConfig } from '../config/types.js';
import { encodeBoxes } from './box-coder.js';
import { numBoxes, pairwiseIoa, pairwiseIou } from './iou.js';
import { BELOW_LOW_THRESHOLD, BETWEEN_THRESHOLDS, matchAnchors } from './matcher.js';

/** Class target of a background anchor (focal loss pushes every class to 0). */
export const BACKGROUND = BELOW_LOW_THRESHOLD;
/** Class target of an ignored anchor (no classification loss). */
export const IGNORE = BETWEEN_THRESHOLDS;

/**
 * An anchor that is not foreground and lies at least this much inside a crowd region (intersection over the
 * anchor's own area) is ignored. 0.5: an anchor mostly inside a crowd of unannotated instances is not penalised
 * as background, while anchors merely touching a large crowd box stay background.
 */
export const CROWD_IOA_THRESHOLD = 0.5;

export interface GroundTruth {
  /** `[M*4]` xyxy boxes in the padded image's pixels. */
  boxes: Float32Array;
  /** `[M]` contiguous labels 0..K-1. */
  labels: Int32Array;
  /** `[G*4]` xyxy crowd regions (`iscrowd: 1`), never positives. */
  crowdBoxes: Float32Array;
}

export type TargetConfig = Pick<
  ModelConfig,
  'matcherHighThreshold' | 'matcherLowThreshold' | 'matcherAllowLowQuality' | 'boxCoderWeights'
>;

export interface AnchorTargets {
  /** `[A]`: label >= 0 foreground, -1 (`BACKGROUND`) background, -2 (`IGNORE`) ignored. */
  clsTargets: Int32Array;
  /** `[A*4]` encoded deltas of the matched box; zeros where not foreground. */
  boxTargets: Float32Array;
  /** `[A*4]` xyxy matched ground-truth box (for IoU-type losses); zeros where not foreground. */
  matchedBoxes: Float32Array;
  /** `[A]` matched ground-truth index, -1 or -2: torchvision's `matched_idxs`, after the crowd rule. */
  matchedIdxs: Int32Array;
  numForeground: number;
}

export interface AssignOptions {
  /** Intersection over anchor area at or above which a non-foreground anchor near a crowd region is ignored. */
  crowdIoaThreshold?: number;
}

/**
 * Assigns targets to `anchors` (`[A*4]` xyxy) the way torchvision's RetinaNet does: IoU with the ground-truth
 * boxes, the matcher (high / low thresholds, low-quality matches), box deltas of foreground anchors against their
 * matched box. No ground truth: everything is background. Crowd regions only turn background or between-threshold
 * anchors into ignored ones (see `CROWD_IOA_THRESHOLD`); with no crowd regions the result is torchvision's exactly.
 */
export function assignTargets(
  anchors: Float32Array,
  gt: GroundTruth,
  cfg: TargetConfig,
  opts: AssignOptions = {},
): AnchorTargets {
  const numAnchors = numBoxes(anchors, 'anchors');
  const numGt = numBoxes(gt.boxes, 'gt.boxes');
  if (gt.labels.length !== numGt) throw new Error(`assignTargets: ${numGt} boxes but ${gt.labels.length} labels`);
  for (let g = 0; g < numGt; g++) {
    const [x1, y1, x2, y2] = gt.boxes.subarray(4 * g, 4 * g + 4);
    // A box of zero width or height overlaps no anchor, and its encoded deltas would be log(0): torchvision refuses
    // such boxes too. The data pipeline drops them; reaching here is a bug upstream.
    if (!(x2! > x1! && y2! > y1!)) {
      throw new Error(`assignTargets: ground-truth box ${g} [${x1}, ${y1}, ${x2}, ${y2}] must have positive width and height`);
    }
  }

  const matchedIdxs =
    numGt === 0
      ? new Int32Array(numAnchors).fill(BELOW_LOW_THRESHOLD)
      : matchAnchors(pairwiseIou(gt.boxes, anchors), numGt, numAnchors, {
          highThreshold: cfg.matcherHighThreshold,
          lowThreshold: cfg.matcherLowThreshold,
          allowLowQuality: cfg.matcherAllowLowQuality,
        });

  const numCrowd = numBoxes(gt.crowdBoxes, 'gt.crowdBoxes');
  if (numCrowd > 0) {
    const threshold = opts.crowdIoaThreshold ?? CROWD_IOA_THRESHOLD;
    const ioa = pairwiseIoa(anchors, gt.crowdBoxes);
    for (let a = 0; a < numAnchors; a++) {
      if (matchedIdxs[a]! >= 0) continue;
      for (let c = 0; c < numCrowd; c++) {
        if (ioa[a * numCrowd + c]! >= threshold) {
          matchedIdxs[a] = BETWEEN_THRESHOLDS;
          break;
        }
      }
    }
  }

  const clsTargets = new Int32Array(numAnchors);
  const matchedBoxes = new Float32Array(numAnchors * 4);
  const fgAnchors: number[] = [];
  for (let a = 0; a < numAnchors; a++) {
    const g = matchedIdxs[a]!;
    if (g >= 0) {
      clsTargets[a] = gt.labels[g]!;
      matchedBoxes.set(gt.boxes.subarray(4 * g, 4 * g + 4), 4 * a);
      fgAnchors.push(a);
    } else {
      clsTargets[a] = g;
    }
  }

  // Encode only the foreground rows, then scatter them back.
  const fgA = new Float32Array(fgAnchors.length * 4);
  const fgG = new Float32Array(fgAnchors.length * 4);
  fgAnchors.forEach((a, i) => {
    fgA.set(anchors.subarray(4 * a, 4 * a + 4), 4 * i);
    fgG.set(matchedBoxes.subarray(4 * a, 4 * a + 4), 4 * i);
  });
  const deltas = encodeBoxes(fgA, fgG, cfg.boxCoderWeights);
  const boxTargets = new Float32Array(numAnchors * 4);
  fgAnchors.forEach((a, i) => boxTargets.set(deltas.subarray(4 * i, 4 * i + 4), 4 * a));

  return { clsTargets, boxTargets, matchedBoxes, matchedIdxs, numForeground: fgAnchors.length };
}

/** Targets of a batch, concatenated image after image, ready to become `[N, A]` / `[N, A, 4]` tensors. */
export interface BatchTargets {
  /** `[N*A]` */
  clsTargets: Int32Array;
  /** `[N*A*4]` */
  boxTargets: Float32Array;
  /** `[N*A*4]` */
  matchedBoxes: Float32Array;
  /** `[N]` */
  numForeground: number[];
}

/** `assignTargets` for each image of a batch (all share the padded batch's anchors). */
export function assignBatchTargets(
  anchors: Float32Array,
  gts: readonly GroundTruth[],
  cfg: TargetConfig,
  opts: AssignOptions = {},
): BatchTargets {
  const numAnchors = numBoxes(anchors, 'anchors');
  const out: BatchTargets = {
    clsTargets: new Int32Array(gts.length * numAnchors),
    boxTargets: new Float32Array(gts.length * numAnchors * 4),
    matchedBoxes: new Float32Array(gts.length * numAnchors * 4),
    numForeground: [],
  };
  gts.forEach((gt, n) => {
    const t = assignTargets(anchors, gt, cfg, opts);
    out.clsTargets.set(t.clsTargets, n * numAnchors);
    out.boxTargets.set(t.boxTargets, n * numAnchors * 4);
    out.matchedBoxes.set(t.matchedBoxes, n * numAnchors * 4);
    out.numForeground.push(t.numForeground);
  });
  return out;
}
