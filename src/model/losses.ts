/**
 * RetinaNet losses in tfjs, normalised exactly as torchvision 0.14's RetinaNet head: per image, the summed focal loss
 * over non-ignored anchors and the summed box loss over foreground anchors are divided by max(1, foreground
 * anchors), then averaged over the images.
 *
 * Only ops with gradients on every backend are used on the gradient path: no gather / gatherND / stridedSlice, no
 * comparison feeding `tf.where`; selections are multiplications by constant masks built from the targets.
 */

import * as tf from '@tensorflow/tfjs-core';
import { BBOX_XFORM_CLIP, type BoxCoderWeights } from '../boxes/box-coder.js';
import type { BatchTargets } from '../boxes/targets.js';
import type { BoxLossKind, ModelConfig } from '../config/types.js';
import { rowSumChunked } from './ops.js';

/** Class target of an ignored anchor (see boxes/targets.ts). */
const IGNORE = -2;

/** `(1 - p_t) ** gamma`, with repeated products for small integer gamma (exact and cheap; 2 is the default). */
function modulatingFactor(oneMinusPt: tf.Tensor, gamma: number): tf.Tensor {
  if (gamma === 0) return tf.onesLike(oneMinusPt);
  if (Number.isInteger(gamma) && gamma > 0 && gamma <= 4) {
    let out = oneMinusPt;
    for (let i = 1; i < gamma; i++) out = tf.mul(out, oneMinusPt);
    return out;
  }
  return tf.pow(oneMinusPt, gamma);
}

/**
 * Sigmoid focal loss summed per image over every class of every anchor that is not ignored.
 *
 * @param logits `[N, A, K]` classification logits.
 * @param clsTargets int32 `[N, A]`: label >= 0 foreground (one-hot target), -1 background (all-zero target),
 *   -2 ignored (excluded).
 * @returns `[N]` per-image sums of torchvision's `alpha_t * (1 - p_t)^gamma * BCE(logit, target)`, with
 *   `alpha_t = alpha * t + (1 - alpha) * (1 - t)`; `alpha < 0` switches the weighting off, as in torchvision.
 *
 * Computed as `alpha_t * sigmoid(z)^gamma * softplus(z)` with `z = x` for a 0 target and `z = -x` for a 1 target:
 * then `sigmoid(z) = 1 - p_t` and `softplus(z) = BCE`, stable for any logit, and the gradient path is five
 * same-shape element-wise ops (the target-dependent factors are constants).
 */
export function sigmoidFocalLoss(logits: tf.Tensor3D, clsTargets: tf.Tensor2D, alpha: number, gamma: number): tf.Tensor1D {
  return tf.tidy(() => {
    const numClasses = logits.shape[2];
    const targets = tf.cast(clsTargets, 'int32');
    // oneHot leaves the rows of negative labels (background, ignore) at the off value. It is built as int32 and
    // cast: the wasm backend's OneHot returns garbage for a float32 dtype. No broadcasting on [N, A, K] (slow on
    // the cpu backend): the valid mask multiplies per-anchor sums instead.
    const sign = tf.cast(tf.oneHot(targets, numClasses, -1, 1), 'float32'); // -1 for a 1 target, +1 for a 0 target
    const z = tf.mul(logits, sign);
    let loss = tf.mul(modulatingFactor(tf.sigmoid(z), gamma), tf.softplus(z));
    // alpha_t: alpha for a 1 target (sign -1), 1 - alpha for a 0 target (sign +1)
    if (alpha >= 0) loss = tf.mul(loss, tf.add(tf.mul(sign, 0.5 - alpha), 0.5));
    const valid = tf.cast(tf.notEqual(targets, IGNORE), 'float32'); // [N, A]
    // Over K, then over A in short chunks: wasm's one float32 sum over A * K (1.7M terms for R50 at 320 px) drifts
    // by ~2e-3 relative from torchvision's; chunked it agrees to ~1e-7.
    return rowSumChunked(tf.mul(tf.sum(loss, 2), valid) as tf.Tensor2D);
  });
}

/** Unstacks the last axis of `[N, A, 4]` into four `[N, A]` tensors. */
function coords(boxes: tf.Tensor3D): [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D] {
  return tf.unstack(boxes, 2) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
}

/**
 * Decodes deltas against anchors in tfjs (the box coder of boxes/box-coder.ts as tensor ops, differentiable in
 * the deltas).
 *
 * @param anchors `[A, 4]` xyxy.
 * @param deltas `[N, A, 4]` `(dx, dy, dw, dh)`.
 * @returns `[N, A, 4]` xyxy boxes.
 */
export function decodeBoxesTf(anchors: tf.Tensor2D, deltas: tf.Tensor3D, weights: BoxCoderWeights): tf.Tensor3D {
  return tf.tidy(() => {
    const [ax1, ay1, ax2, ay2] = tf.unstack(anchors, 1);
    const aw = tf.sub(ax2!, ax1!);
    const ah = tf.sub(ay2!, ay1!);
    const acx = tf.add(ax1!, tf.mul(aw, 0.5));
    const acy = tf.add(ay1!, tf.mul(ah, 0.5));
    const [dx, dy, dw, dh] = coords(deltas);
    const cx = tf.add(tf.mul(tf.div(dx, weights[0]), aw), acx);
    const cy = tf.add(tf.mul(tf.div(dy, weights[1]), ah), acy);
    const halfW = tf.mul(tf.mul(tf.exp(tf.minimum(tf.div(dw, weights[2]), BBOX_XFORM_CLIP)), aw), 0.5);
    const halfH = tf.mul(tf.mul(tf.exp(tf.minimum(tf.div(dh, weights[3]), BBOX_XFORM_CLIP)), ah), 0.5);
    return tf.stack([tf.sub(cx, halfW), tf.sub(cy, halfH), tf.add(cx, halfW), tf.add(cy, halfH)], 2) as tf.Tensor3D;
  });
}

/**
 * Generalised IoU loss `1 - GIoU` of matching rows of two `[N, A, 4]` xyxy box sets -> `[N, A]`, torchvision's
 * `generalized_box_iou_loss` (eps 1e-7).
 */
export function giouLoss(boxes: tf.Tensor3D, gtBoxes: tf.Tensor3D, eps = 1e-7): tf.Tensor2D {
  return tf.tidy(() => {
    const [x1, y1, x2, y2] = coords(boxes);
    const [gx1, gy1, gx2, gy2] = coords(gtBoxes);
    const interW = tf.relu(tf.sub(tf.minimum(x2, gx2), tf.maximum(x1, gx1)));
    const interH = tf.relu(tf.sub(tf.minimum(y2, gy2), tf.maximum(y1, gy1)));
    const inter = tf.mul(interW, interH);
    const area = tf.mul(tf.sub(x2, x1), tf.sub(y2, y1));
    const gtArea = tf.mul(tf.sub(gx2, gx1), tf.sub(gy2, gy1));
    const union = tf.sub(tf.add(area, gtArea), inter);
    const iou = tf.div(inter, tf.add(union, eps));
    const enclosing = tf.mul(tf.sub(tf.maximum(x2, gx2), tf.minimum(x1, gx1)), tf.sub(tf.maximum(y2, gy2), tf.minimum(y1, gy1)));
    const giou = tf.sub(iou, tf.div(tf.sub(enclosing, union), tf.add(enclosing, eps)));
    return tf.sub(1, giou) as tf.Tensor2D;
  });
}

export interface BoxLossOptions {
  /** Smooth-L1 transition point (torchvision's RetinaNet uses 1.0 for 'smooth_l1'; 0 gives L1). */
  beta?: number;
  /** `[A, 4]` anchors: needed by 'giou' to decode the deltas. */
  anchors?: tf.Tensor2D;
  /** `[N, A, 4]` xyxy matched ground-truth boxes: needed by 'giou'. */
  matchedBoxes?: tf.Tensor3D;
  /** Box coder weights for 'giou' decoding; (1, 1, 1, 1) by default. */
  weights?: BoxCoderWeights;
}

/**
 * Box regression loss summed per image over foreground anchors.
 *
 * @param deltas `[N, A, 4]` predicted deltas.
 * @param boxTargets `[N, A, 4]` encoded targets (zeros where not foreground).
 * @param foregroundMask float `[N, A]`: 1 for foreground anchors, else 0.
 * @returns `[N]`: 'l1' `sum |d - t|`; 'smooth_l1' `0.5 m^2 / beta + |d - t| - m` with `m = min(|d - t|, beta)`;
 *   'giou' `sum (1 - GIoU(decode(d), matched box))`.
 */
export function boxRegressionLoss(
  deltas: tf.Tensor3D,
  boxTargets: tf.Tensor3D,
  foregroundMask: tf.Tensor2D,
  kind: BoxLossKind,
  opts: BoxLossOptions = {},
): tf.Tensor1D {
  return tf.tidy(() => {
    if (kind === 'giou') {
      if (!opts.anchors || !opts.matchedBoxes) throw new Error("boxRegressionLoss: 'giou' needs anchors and matchedBoxes");
      const mask = tf.expandDims(foregroundMask, 2);
      // Non-foreground rows compare an anchor with itself, keeping every value finite before the mask zeroes them.
      const anchorRows = tf.expandDims(opts.anchors, 0);
      const gt = tf.add(tf.mul(opts.matchedBoxes, mask), tf.mul(anchorRows, tf.sub(1, mask))) as tf.Tensor3D;
      const pred = decodeBoxesTf(opts.anchors, deltas, opts.weights ?? [1, 1, 1, 1]);
      return tf.sum(tf.mul(giouLoss(pred, gt), foregroundMask), 1) as tf.Tensor1D;
    }
    const diff = tf.abs(tf.sub(deltas, boxTargets));
    let perCoord: tf.Tensor = diff;
    const beta = opts.beta ?? 1;
    if (kind === 'smooth_l1' && beta > 0) {
      const m = tf.minimum(diff, beta);
      perCoord = tf.add(tf.div(tf.mul(tf.mul(m, m), 0.5), beta), tf.sub(diff, m));
    }
    return tf.sum(tf.mul(tf.sum(perCoord, 2), foregroundMask), 1) as tf.Tensor1D;
  });
}

export type LossConfig = Pick<ModelConfig, 'focalAlpha' | 'focalGamma' | 'boxLoss' | 'smoothL1Beta' | 'boxCoderWeights'>;

export interface LossInputs {
  /** `[N, A, K]` */
  clsLogits: tf.Tensor3D;
  /** `[N, A, 4]` */
  boxDeltas: tf.Tensor3D;
  /** int32 `[N, A]`: label, -1 background, -2 ignore. */
  clsTargets: tf.Tensor2D;
  /** `[N, A, 4]` encoded box targets. */
  boxTargets: tf.Tensor3D;
  /** Foreground anchors per image. */
  numForeground: readonly number[];
  /** `[A, 4]` anchors and `[N, A, 4]` matched boxes: only for the 'giou' box loss. */
  anchors?: tf.Tensor2D;
  matchedBoxes?: tf.Tensor3D;
}

/**
 * The two RetinaNet losses of a batch: each image's sums divided by max(1, its foreground count), then the mean
 * over images (torchvision's normalisation).
 */
export function retinanetLosses(inputs: LossInputs, cfg: LossConfig): { lossCls: tf.Scalar; lossBox: tf.Scalar } {
  const n = inputs.clsLogits.shape[0];
  if (inputs.numForeground.length !== n) {
    throw new Error(`retinanetLosses: ${inputs.numForeground.length} foreground counts for ${n} images`);
  }
  return tf.tidy(() => {
    const perImage = tf.tensor1d(inputs.numForeground.map((c) => 1 / Math.max(1, c) / n));
    const foregroundMask = tf.cast(tf.greaterEqual(inputs.clsTargets, 0), 'float32') as tf.Tensor2D;
    const cls = sigmoidFocalLoss(inputs.clsLogits, inputs.clsTargets, cfg.focalAlpha, cfg.focalGamma);
    const opts: BoxLossOptions = { beta: cfg.smoothL1Beta, weights: cfg.boxCoderWeights };
    if (inputs.anchors) opts.anchors = inputs.anchors;
    if (inputs.matchedBoxes) opts.matchedBoxes = inputs.matchedBoxes;
    const box = boxRegressionLoss(inputs.boxDeltas, inputs.boxTargets, foregroundMask, cfg.boxLoss, opts);
    return { lossCls: tf.sum(tf.mul(cls, perImage)) as tf.Scalar, lossBox: tf.sum(tf.mul(box, perImage)) as tf.Scalar };
  });
}

/** The batch targets of boxes/targets.ts as the tensors `retinanetLosses` takes (caller disposes them). */
export function targetTensors(
  targets: BatchTargets,
  numAnchors: number,
): { clsTargets: tf.Tensor2D; boxTargets: tf.Tensor3D; matchedBoxes: tf.Tensor3D } {
  const n = targets.numForeground.length;
  return {
    clsTargets: tf.tensor2d(targets.clsTargets, [n, numAnchors], 'int32'),
    boxTargets: tf.tensor3d(targets.boxTargets, [n, numAnchors, 4]),
    matchedBoxes: tf.tensor3d(targets.matchedBoxes, [n, numAnchors, 4]),
  };
}
