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
  const suppressed = new Uint8Array(numBoxes(boxes));
  // Disjoint pairs have IoU 0, which only a negative threshold would suppress: skip their arithmetic.
  const skipDisjoint = iouThreshold >= 0;
  const keep: number[] = [];
  for (let ii = 0; ii < n; ii++) {
    const i = order[ii]!;
    if (suppressed[i]) continue;
    keep.push(i);
    const x1 = boxes[4 * i]!;
    const y1 = boxes[4 * i + 1]!;
    const x2 = boxes[4 * i + 2]!;
    const y2 = boxes[4 * i + 3]!;
    const area = areas[i]!;
    for (let jj = ii + 1; jj < n; jj++) {
      const j = order[jj]!;
      if (suppressed[j]) continue;
      const w = Math.max(0, f(Math.min(x2, boxes[4 * j + 2]!) - Math.max(x1, boxes[4 * j]!)));
      if (w === 0 && skipDisjoint) continue;
      const h = Math.max(0, f(Math.min(y2, boxes[4 * j + 3]!) - Math.max(y1, boxes[4 * j + 1]!)));
      const inter = f(w * h);
      const iou = f(inter / f(f(area + areas[j]!) - inter));
      if (iou > iouThreshold) suppressed[j] = 1;
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
