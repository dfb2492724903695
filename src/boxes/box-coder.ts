/**
 * The RetinaNet / Faster R-CNN box parameterisation, exactly torchvision 0.14's `BoxCoder`: widths are
 * `x2 - x1` (no +1), centres `x1 + 0.5 * w`, deltas `(dx, dy, dw, dh) = (wx * (gx - ax) / aw, wy * (gy - ay) / ah,
 * ww * log(gw / aw), wh * log(gh / ah))`, and decoding clips `dw`, `dh` at log(1000 / 16) before `exp`.
 * Steps are rounded to float32 in PyTorch's order.
 */

import { numBoxes } from './iou.js';

const f = Math.fround;

/** `(wx, wy, ww, wh)`: RetinaNet uses (1, 1, 1, 1). */
export type BoxCoderWeights = readonly [number, number, number, number];

/** Largest `dw` / `dh` fed to `exp` when decoding: log(1000 / 16), as float32 (torch clamps a float32 tensor). */
export const BBOX_XFORM_CLIP = Math.log(1000 / 16);

/**
 * Encodes each ground-truth box against the anchor in the same row: `anchors` and `gtBoxes` are `[N*4]` xyxy,
 * the result `[N*4]` deltas `(dx, dy, dw, dh)`.
 */
export function encodeBoxes(anchors: Float32Array, gtBoxes: Float32Array, weights: BoxCoderWeights): Float32Array {
  const n = numBoxes(anchors, 'anchors');
  if (numBoxes(gtBoxes, 'gtBoxes') !== n) throw new Error(`encodeBoxes: ${n} anchors but ${gtBoxes.length / 4} boxes`);
  const [wx, wy, ww, wh] = weights.map(f) as [number, number, number, number];
  const out = new Float32Array(4 * n);
  for (let i = 0; i < n; i++) {
    const o = 4 * i;
    const aw = f(anchors[o + 2]! - anchors[o]!);
    const ah = f(anchors[o + 3]! - anchors[o + 1]!);
    const ax = f(anchors[o]! + f(0.5 * aw));
    const ay = f(anchors[o + 1]! + f(0.5 * ah));
    const gw = f(gtBoxes[o + 2]! - gtBoxes[o]!);
    const gh = f(gtBoxes[o + 3]! - gtBoxes[o + 1]!);
    const gx = f(gtBoxes[o]! + f(0.5 * gw));
    const gy = f(gtBoxes[o + 1]! + f(0.5 * gh));
    out[o] = f(f(wx * f(gx - ax)) / aw);
    out[o + 1] = f(f(wy * f(gy - ay)) / ah);
    out[o + 2] = f(ww * f(Math.log(f(gw / aw))));
    out[o + 3] = f(wh * f(Math.log(f(gh / ah))));
  }
  return out;
}

/**
 * Decodes deltas against anchors: `anchors` and `deltas` are `[N*4]`, the result `[N*4]` xyxy boxes
 * (`x1 = cx - 0.5 * w`, `x2 = cx + 0.5 * w`, no -1).
 */
export function decodeBoxes(anchors: Float32Array, deltas: Float32Array, weights: BoxCoderWeights): Float32Array {
  const n = numBoxes(anchors, 'anchors');
  if (numBoxes(deltas, 'deltas') !== n) throw new Error(`decodeBoxes: ${n} anchors but ${deltas.length / 4} deltas`);
  const out = new Float32Array(4 * n);
  for (let i = 0; i < n; i++) decodeOne(anchors, i, deltas, i, weights, out, i);
  return out;
}

/** Decodes row `d` of `deltas` against row `a` of `anchors` into row `o` of `out` (all `[*4]` flat arrays). */
export function decodeOne(
  anchors: Float32Array,
  a: number,
  deltas: Float32Array,
  d: number,
  weights: BoxCoderWeights,
  out: Float32Array,
  o: number,
): void {
  const clip = f(BBOX_XFORM_CLIP);
  const ai = 4 * a;
  const di = 4 * d;
  const aw = f(anchors[ai + 2]! - anchors[ai]!);
  const ah = f(anchors[ai + 3]! - anchors[ai + 1]!);
  const ax = f(anchors[ai]! + f(0.5 * aw));
  const ay = f(anchors[ai + 1]! + f(0.5 * ah));
  const dx = f(deltas[di]! / f(weights[0]));
  const dy = f(deltas[di + 1]! / f(weights[1]));
  const dw = Math.min(f(deltas[di + 2]! / f(weights[2])), clip);
  const dh = Math.min(f(deltas[di + 3]! / f(weights[3])), clip);
  const cx = f(f(dx * aw) + ax);
  const cy = f(f(dy * ah) + ay);
  const halfW = f(0.5 * f(f(Math.exp(dw)) * aw));
  const halfH = f(0.5 * f(f(Math.exp(dh)) * ah));
  const oi = 4 * o;
  out[oi] = cx - halfW;
  out[oi + 1] = cy - halfH;
  out[oi + 2] = cx + halfW;
  out[oi + 3] = cy + halfH;
}
