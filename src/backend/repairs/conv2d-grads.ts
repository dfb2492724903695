/**
 * Convolution gradients expressed through the two kernels every backend makes fast: plain matrix products and
 * forward convolutions. Registered for backends whose own gradient kernels are missing (wasm: no filter gradient)
 * or slow (wasm input gradient 2 GFLOP/s against 25 for a forward conv; cpu filter gradient 0.01 GFLOP/s).
 *
 * Notation: the forward conv is y[n, o, c_out] = sum_k x[n, o*s + k - p, c_in] * w[k, c_in, c_out] per spatial
 * axis (dilation 1, NHWC, HWIO), with p the top/left padding tfjs derived ('same', 'valid', a number or
 * explicit pairs).
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { asTensor, padOrCrop } from './tensors.js';

type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;

interface GradGeometry {
  strides: [number, number] | number;
  pad: Pad;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function convInfo(
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  g: GradGeometry,
): backend_util.Conv2DInfo {
  if (g.dataFormat !== 'NHWC') throw new Error('kernel repair: only NHWC convolutions are repaired');
  return backend_util.computeConv2DInfo(xShape, filterShape, g.strides, 1, g.pad, g.dimRoundingMode, false, 'channelsLast');
}

/**
 * Filter gradient of a conv: dW[kh, kw, ci, co] = sum_{n, oh, ow} xpad[n, oh*sh + kh, ow*sw + kw, ci] * dy[n, oh, ow, co].
 * One matrix product `[Cin, M] x [M, Cout]` (M = N*OH*OW) per filter tap, on strided views of the padded input
 * laid out channel-first so that no product needs a transposed operand.
 * @param x `[N, H, W, Cin]`
 * @param dy `[N, OH, OW, Cout]`
 * @returns `[KH, KW, Cin, Cout]`
 */
export function conv2dFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  filterShape: [number, number, number, number],
  g: GradGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = convInfo(x.shape, filterShape, g);
    const [kh, kw, cin, cout] = filterShape;
    const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
    const { top, left } = info.padInfo;
    const n = x.shape[0];
    const m = n * oh * ow;
    const dy2 = tf.reshape(dy, [m, cout]) as tf.Tensor2D;
    // Rows the taps read: top-padded input rows 0 .. (OH-1)*sh + KH - 1.
    const hp = (oh - 1) * sh + kh;
    const wp = (ow - 1) * sw + kw;
    // Round the padded size up to a multiple of the stride (extra zero rows are never read).
    const hs = Math.ceil(hp / sh) * sh;
    const ws = Math.ceil(wp / sw) * sw;
    const xp = padOrCrop(x, top, hs - x.shape[1] - top, left, ws - x.shape[2] - left);
    const xt = tf.transpose(xp, [3, 0, 1, 2]) as tf.Tensor4D; // [Cin, N, Hs, Ws]
    // Stride phases as contiguous blocks: phase (a, b) holds rows a, a + sh, ... and columns b, b + sw, ...
    // (4-D reshapes and transposes only: wasm slices rank > 4 and strided slices element by element).
    const phases =
      sh === 1 && sw === 1
        ? null
        : (tf.transpose(tf.reshape(xt, [cin * n * (hs / sh), sh, ws / sw, sw]), [1, 3, 0, 2]) as tf.Tensor4D);
    const phase = (a: number, b: number): tf.Tensor4D =>
      phases === null
        ? xt
        : (tf.reshape(tf.slice(phases, [a, b, 0, 0], [1, 1, cin * n * (hs / sh), ws / sw]), [cin, n, hs / sh, ws / sw]) as tf.Tensor4D);
    const phaseCache = new Map<number, tf.Tensor4D>();
    const taps: tf.Tensor2D[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const key = (i % sh) * sw + (j % sw);
        if (!phaseCache.has(key)) phaseCache.set(key, phase(i % sh, j % sw));
        const view = tf.slice(phaseCache.get(key)!, [0, 0, Math.floor(i / sh), Math.floor(j / sw)], [cin, n, oh, ow]);
        taps.push(tf.matMul(tf.reshape(view, [cin, m]) as tf.Tensor2D, dy2));
      }
    }
    return tf.reshape(taps.length === 1 ? taps[0]! : tf.stack(taps), filterShape) as tf.Tensor4D;
  });
}

/**
 * Input gradient of a conv, as stride*stride forward convs ("phases") of dy with sub-filters, interleaved.
 * For an output row i let t = i + p; the taps reaching it are k = k0 + m*s with k0 = t mod s, from dy row
 * floor(t/s) - m. Rows i of one residue class r = i mod s share k0 = (r + p) mod s, and over u = floor(t/s)
 * they are the correlation of dy with the flipped sub-filter w[k0 + m*s], m = 0 .. ceil((K - k0)/s) - 1.
 * With stride 1 this is the single forward conv of dy with the flipped, transposed filter.
 * @param dy `[N, OH, OW, Cout]`
 * @param w `[KH, KW, Cin, Cout]`
 * @returns `[N, H, W, Cin]`
 */
export function conv2dInputGrad(
  dy: tf.Tensor4D,
  w: tf.Tensor4D,
  inputShape: [number, number, number, number],
  g: GradGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = convInfo(inputShape, w.shape, g);
    const [kh, kw, cin] = w.shape;
    const [n, h, wd] = inputShape;
    const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
    const { top, left } = info.padInfo;
    const lh = Math.ceil(h / sh);
    const lw = Math.ceil(wd / sw);
    const rows: tf.Tensor4D[] = [];
    for (let rh = 0; rh < sh; rh++) {
      const cols: tf.Tensor4D[] = [];
      for (let rw = 0; rw < sw; rw++) {
        const a = phaseAxis(rh, top, sh, kh, h, oh);
        const b = phaseAxis(rw, left, sw, kw, wd, ow);
        // A phase with no rows (input smaller than the stride) or no taps contributes zeros. No zero-size
        // tensors are ever made: wasm kernels write out of bounds on them.
        let phase: tf.Tensor4D;
        if (a.taps === 0 || b.taps === 0 || a.count === 0 || b.count === 0) {
          phase = tf.zeros([n, lh, lw, cin]);
        } else {
          const filter = flippedSubFilter(w, a.k0, sh, a.taps, b.k0, sw, b.taps); // [Mh, Mw, Cout, Cin]
          const dyp = padOrCrop(dy, a.before, a.after, b.before, b.after);
          phase = tf.conv2d(dyp, filter, 1, 'valid');
          if (sh * sw === 1) return phase;
          phase = padOrCrop(phase, 0, lh - a.count, 0, lw - b.count);
        }
        cols.push(phase);
      }
      // [N, Lh, Lw, sw, Cin] -> [N, Lh, Lw*sw, Cin]
      rows.push(sw === 1 ? cols[0]! : (tf.reshape(tf.stack(cols, 3), [n, lh, lw * sw, cin]) as tf.Tensor4D));
    }
    const full = sh === 1 ? rows[0]! : (tf.reshape(tf.stack(rows, 2), [n, lh * sh, lw * sw, cin]) as tf.Tensor4D);
    return tf.slice(full, [0, 0, 0, 0], inputShape);
  });
}

/**
 * The taps w[k0h + m*sh, k0w + n*sw] in reverse order (flipped in both axes), channels swapped. Each tap is a
 * contiguous `[Cin, Cout]` block of the HWIO filter, so this is block slices and one concat (wasm's Reverse,
 * StridedSlice and Gather go element by element).
 * @param w `[KH, KW, Cin, Cout]`
 * @returns `[Mh, Mw, Cout, Cin]`
 */
function flippedSubFilter(w: tf.Tensor4D, k0h: number, sh: number, mh: number, k0w: number, sw: number, mw: number): tf.Tensor4D {
  const [kh, kw, cin, cout] = w.shape;
  const index: number[] = [];
  for (let u = mh - 1; u >= 0; u--) for (let v = mw - 1; v >= 0; v--) index.push((k0h + u * sh) * kw + (k0w + v * sw));
  const flat = tf.reshape(w, [kh * kw, cin * cout]);
  const blocks = index.map((k) => tf.slice(flat, [k, 0], [1, cin * cout]));
  const picked = tf.reshape(blocks.length === 1 ? blocks[0]! : tf.concat(blocks, 0), [index.length, cin, cout]);
  return tf.reshape(tf.transpose(picked, [0, 2, 1]), [mh, mw, cout, cin]) as tf.Tensor4D;
}

/** One spatial axis of one phase of the input gradient: which taps, how many rows, how to pad dy. */
function phaseAxis(r: number, p: number, s: number, k: number, size: number, outSize: number) {
  const k0 = (((r + p) % s) + s) % s;
  const taps = k0 < k ? Math.ceil((k - k0) / s) : 0;
  const count = r < size ? Math.ceil((size - r) / s) : 0;
  const u0 = Math.ceil((p - k0) / s); // u of the first row (i = r)
  const u1 = u0 + count - 1;
  return { k0, taps, count, before: taps - 1 - u0, after: u1 - (outSize - 1) };
}

export const conv2dBackpropFilterKernel: tf.KernelFunc = ({ inputs, attrs }) => {
  const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const x = asTensor<tf.Rank.R4>(inputs.x!, 'x');
  const dy = asTensor<tf.Rank.R4>(inputs.dy!, 'dy');
  return conv2dFilterGrad(x, dy, a.filterShape, a);
};

export const conv2dBackpropInputKernel: tf.KernelFunc = ({ inputs, attrs }) => {
  const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const dy = asTensor<tf.Rank.R4>(inputs.dy!, 'dy');
  const w = asTensor<tf.Rank.R4>(inputs.filter!, 'filter');
  return conv2dInputGrad(dy, w, a.inputShape, a);
};
