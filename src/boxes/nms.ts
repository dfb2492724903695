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
 * Class-wise NMS: boxes only suppress boxes of the same label. Returns kept indices sorted by descending score
 * (ties by index), as torchvision's `batched_nms`. Same result as its coordinate-offset trick, without the float
 * rounding the offsets introduce (torchvision itself switches to this per-class form above 1000 boxes on CPU).
 */
export function batchedNms(
  boxes: Float32Array,
  scores: Float32Array,
  labels: Int32Array,
  iouThreshold: number,
): Int32Array {
  checkInputs(boxes, scores, 'batchedNms');
  if (labels.length !== scores.length) throw new Error(`batchedNms: ${scores.length} scores but ${labels.length} labels`);
  const order = argsortDescending(scores);
  // Split the global order by label (each list stays in descending score), run NMS per label, then read the
  // survivors back in the global order.
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
