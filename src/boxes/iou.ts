/**
 * Box areas and pairwise overlaps on flat xyxy arrays. Every arithmetic step is rounded to float32 (`Math.fround`)
 * in the order torchvision's `box_iou` performs it, so results are bit-identical to PyTorch's float32 values and
 * thresholds such as IoU >= 0.5 and ties in the matcher fall the same way.
 */

const f = Math.fround;

/** Number of boxes in a flat `[N*4]` xyxy array; throws when the length is not a multiple of 4. */
export function numBoxes(boxes: Float32Array, what = 'boxes'): number {
  if (boxes.length % 4 !== 0) throw new Error(`${what}: length ${boxes.length} is not a multiple of 4`);
  return boxes.length / 4;
}

/** Areas `(x2 - x1) * (y2 - y1)` of `[N*4]` xyxy boxes -> `[N]`. */
export function boxArea(boxes: Float32Array): Float32Array {
  const n = numBoxes(boxes);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const o = 4 * i;
    out[i] = f(f(boxes[o + 2]! - boxes[o]!) * f(boxes[o + 3]! - boxes[o + 1]!));
  }
  return out;
}

/**
 * Calls `emit(i, j, inter)` for every pair of a box of `a` and a box of `b` that overlap (positive intersection);
 * disjoint pairs are skipped (their overlap is 0). Intersection as torchvision: `clamp(rb - lt, 0)` per axis, product.
 */
function forEachOverlap(a: Float32Array, b: Float32Array, emit: (i: number, j: number, inter: number) => void): void {
  const n = numBoxes(a, 'a');
  const m = numBoxes(b, 'b');
  for (let i = 0; i < n; i++) {
    const ax1 = a[4 * i]!;
    const ay1 = a[4 * i + 1]!;
    const ax2 = a[4 * i + 2]!;
    const ay2 = a[4 * i + 3]!;
    for (let j = 0; j < m; j++) {
      const o = 4 * j;
      const w = f(Math.min(ax2, b[o + 2]!) - Math.max(ax1, b[o]!));
      if (!(w > 0)) continue;
      const h = f(Math.min(ay2, b[o + 3]!) - Math.max(ay1, b[o + 1]!));
      if (!(h > 0)) continue;
      emit(i, j, f(w * h));
    }
  }
}

/**
 * Intersection over union of every box of `a` (`[N*4]` xyxy) with every box of `b` (`[M*4]`) -> `[N*M]`,
 * row-major (`out[i*M + j]` pairs `a[i]` with `b[j]`). A pair whose union is zero (two empty boxes) gets 0.
 */
export function pairwiseIou(a: Float32Array, b: Float32Array): Float32Array {
  const areaA = boxArea(a);
  const areaB = boxArea(b);
  const m = areaB.length;
  const out = new Float32Array(areaA.length * m); // zeros: disjoint pairs stay 0
  forEachOverlap(a, b, (i, j, inter) => {
    const union = f(f(areaA[i]! + areaB[j]!) - inter);
    out[i * m + j] = union > 0 ? f(inter / union) : 0;
  });
  return out;
}

/**
 * Intersection over the area of `a`'s box (`[N*4]` xyxy) for every pair with `b` (`[M*4]`) -> `[N*M]` row-major.
 * Used with anchors as `a` and crowd regions as `b`: how much of an anchor lies inside a crowd region.
 * An empty `a` box gets 0.
 */
export function pairwiseIoa(a: Float32Array, b: Float32Array): Float32Array {
  const areaA = boxArea(a);
  const m = numBoxes(b, 'b');
  const out = new Float32Array(areaA.length * m); // zeros: disjoint pairs stay 0
  forEachOverlap(a, b, (i, j, inter) => {
    const area = areaA[i]!;
    out[i * m + j] = area > 0 ? f(inter / area) : 0;
  });
  return out;
}
