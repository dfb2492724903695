/**
 * Greedy non-maximum suppression as torchvision 0.14's CPU kernel computes it: boxes visited in descending score,
 * a box is suppressed when its IoU with a kept box is strictly greater than the threshold, IoU computed in float32
 * with areas `(x2 - x1) * (y2 - y1)`.
 *
 * Equal scores: torch's CPU sort is not stable (the order of tied scores is an accident of its algorithm), so no
 * implementation can reproduce it in general; we visit tied scores in ascending index order, which is what torch
 * gives for distinct scores and a deterministic choice otherwise.
 */

import { boxArea, numBoxes } from './iou.js';

const f = Math.fround;

/** Indices `0..n-1` sorted by descending score, ties by ascending index. */
export function argsortDescending(scores: ArrayLike<number>, indices?: ArrayLike<number>): Int32Array {
  const order = indices ? Int32Array.from(indices) : Int32Array.from({ length: scores.length }, (_, i) => i);
  order.sort((i, j) => scores[j]! - scores[i]! || i - j);
  return order;
}

/** Greedy NMS over the boxes listed in `order` (`areas` of all boxes given); kept indices in visiting order. */
function greedy(boxes: Float32Array, areas: Float32Array, order: Int32Array, iouThreshold: number): Int32Array {
  const n = order.length;
  // Coordinates gathered in visiting order, so the inner loop reads memory sequentially.
  const x1 = new Float32Array(n);
  const y1 = new Float32Array(n);
  const x2 = new Float32Array(n);
  const y2 = new Float32Array(n);
  const area = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    const i = order[r]!;
    x1[r] = boxes[4 * i]!;
    y1[r] = boxes[4 * i + 1]!;
    x2[r] = boxes[4 * i + 2]!;
    y2[r] = boxes[4 * i + 3]!;
    area[r] = areas[i]!;
  }
  const suppressed = new Uint8Array(n);
  // Disjoint pairs have IoU 0, which only a negative threshold would suppress: skip their arithmetic.
  const skipDisjoint = iouThreshold >= 0;
  const keep: number[] = [];
  for (let r = 0; r < n; r++) {
    if (suppressed[r]) continue;
    keep.push(order[r]!);
    const ax1 = x1[r]!;
    const ay1 = y1[r]!;
    const ax2 = x2[r]!;
    const ay2 = y2[r]!;
    const aArea = area[r]!;
    for (let q = r + 1; q < n; q++) {
      if (suppressed[q]) continue;
      const w = Math.max(0, f(Math.min(ax2, x2[q]!) - Math.max(ax1, x1[q]!)));
      if (w === 0 && skipDisjoint) continue;
      const h = Math.max(0, f(Math.min(ay2, y2[q]!) - Math.max(ay1, y1[q]!)));
      const inter = f(w * h);
      const iou = f(inter / f(f(aArea + area[q]!) - inter));
      if (iou > iouThreshold) suppressed[q] = 1;
    }
  }
  return Int32Array.from(keep);
}

function checkInputs(boxes: Float32Array, scores: Float32Array, what: string): void {
  const n = numBoxes(boxes, `${what}: boxes`);
  if (scores.length !== n) throw new Error(`${what}: ${n} boxes but ${scores.length} scores`);
}

/**
 * Non-maximum suppression of `[N*4]` xyxy `boxes` with `[N]` `scores` -> kept indices, highest score first.
 */
export function nms(boxes: Float32Array, scores: Float32Array, iouThreshold: number): Int32Array {
  checkInputs(boxes, scores, 'nms');
  return greedy(boxes, boxArea(boxes), argsortDescending(scores), iouThreshold);
}

/**
 * torchvision's `batched_nms` on CPU runs NMS class by class above this many box coordinates (1000 boxes); at or
 * below it shifts each class's boxes by `label * (max coordinate + 1)` in float32 and runs one NMS.
 */
export const PER_CLASS_NMS_ABOVE = 4000;

export type BatchedNmsMethod = 'auto' | 'per-class' | 'offset';

/**
 * Class-wise NMS: boxes only suppress boxes of the same label. Returns kept indices sorted by descending score
 * (ties by index), as torchvision's `batched_nms`.
 *
 * `method` 'auto' (default) does what torchvision does for the same input on CPU: per class above 1000 boxes,
 * otherwise the coordinate-offset trick, reproduced in float32 so that borderline IoUs round the same way (large
 * offsets coarsen the coordinates: with labels up to 1000 and boxes up to 1000 px the shifted coordinates have a
 * 1/16 px grid). 'per-class' and 'offset' force one form.
 */
export function batchedNms(
  boxes: Float32Array,
  scores: Float32Array,
  labels: Int32Array,
  iouThreshold: number,
  method: BatchedNmsMethod = 'auto',
): Int32Array {
  checkInputs(boxes, scores, 'batchedNms');
  if (labels.length !== scores.length) throw new Error(`batchedNms: ${scores.length} scores but ${labels.length} labels`);
  if (scores.length === 0) return new Int32Array(0);
  const perClass = method === 'per-class' || (method === 'auto' && boxes.length > PER_CLASS_NMS_ABOVE);
  return perClass ? perClassNms(boxes, scores, labels, iouThreshold) : offsetNms(boxes, scores, labels, iouThreshold);
}

/** NMS per label; the survivors read back in the global descending-score order. */
function perClassNms(boxes: Float32Array, scores: Float32Array, labels: Int32Array, iouThreshold: number): Int32Array {
  const order = argsortDescending(scores);
  // Split the global order by label (each list stays in descending score).
  const byLabel = new Map<number, number[]>();
  for (const i of order) {
    const list = byLabel.get(labels[i]!);
    if (list) list.push(i);
    else byLabel.set(labels[i]!, [i]);
  }
  const areas = boxArea(boxes);
  const kept = new Uint8Array(scores.length);
  for (const list of byLabel.values()) {
    for (const i of greedy(boxes, areas, Int32Array.from(list), iouThreshold)) kept[i] = 1;
  }
  return order.filter((i) => kept[i] === 1);
}

/** One NMS over boxes shifted by `label * (max coordinate + 1)`, in float32 as torchvision computes it. */
function offsetNms(boxes: Float32Array, scores: Float32Array, labels: Int32Array, iouThreshold: number): Int32Array {
  let maxCoordinate = -Infinity;
  for (const v of boxes) if (v > maxCoordinate) maxCoordinate = v;
  const step = f(maxCoordinate + 1);
  const shifted = new Float32Array(boxes.length);
  for (let i = 0; i < labels.length; i++) {
    const offset = f(f(labels[i]!) * step);
    for (let c = 0; c < 4; c++) shifted[4 * i + c] = boxes[4 * i + c]! + offset; // rounded by the Float32Array
  }
  return greedy(shifted, boxArea(shifted), argsortDescending(scores), iouThreshold);
}
