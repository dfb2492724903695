import * as tf from '@tensorflow/tfjs-core';

/**
 * Nearest-neighbour 2x upsampling [N, H, W, C] -> [N, 2H, 2W, C], written as stack + reshape so the gradient is
 * right on every backend (the cpu backend's ResizeNearestNeighborGrad is wrong for batch > 1).
 */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const wide = tf.reshape(tf.stack([x, x], 3), [n, h, w * 2, c]);
    return tf.reshape(tf.stack([wide, wide], 2), [n, h * 2, w * 2, c]);
  });
}

/**
 * torch's `interpolate(x, size=(outH, outW), mode='nearest')` for outH in {2H - 1, 2H} (and the same for W): the
 * only sizes an FPN top-down path meets, since a stride-2 conv maps L to ceil(L / 2). Source index floor(d / 2).
 */
export function upsampleNearestTo(x: tf.Tensor4D, outH: number, outW: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  if ((outH !== 2 * h && outH !== 2 * h - 1) || (outW !== 2 * w && outW !== 2 * w - 1)) {
    throw new Error(`upsampleNearestTo: ${h}x${w} -> ${outH}x${outW} is not a 2x nearest upsample`);
  }
  return tf.tidy(() => {
    const up = upsampleNearest2x(x);
    return outH === 2 * h && outW === 2 * w ? up : tf.slice(up, [0, 0, 0, 0], [-1, outH, outW, -1]);
  });
}

/**
 * torch's `max_pool2d(kernel 3, stride 2, padding 1)`: [N, H, W, C] -> [N, floor((H - 1) / 2) + 1, ..., C], padding
 * with -inf. Written with pad, reshape, slice and maximum so the forward and the gradient are right on every backend
 * (wasm's MaxPoolGrad is not). In padded coordinates window i covers rows 2i, 2i+1, 2i+2: the max of pair i
 * (2i, 2i+1) and the first row of pair i+1. Every slice is rank 3 with a contiguous inner run (fast on wasm).
 */
export function maxPool3x3s2(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const outH = Math.floor((h - 1) / 2) + 1;
    const outW = Math.floor((w - 1) / 2) + 1;
    const wp = 2 * outW + 2;
    // Padded length 2 * out + 2: one -inf row in front, the rest behind.
    const padded = tf.pad(x, [[0, 0], [1, 2 * outH + 1 - h], [1, 2 * outW + 1 - w], [0, 0]], -Infinity);
    const byRows = windowMax(tf.reshape(padded, [n, outH + 1, 2, wp * c]), n, outH, wp * c); // [n, outH, wp * c]
    const byCols = windowMax(tf.reshape(byRows, [n * outH, outW + 1, 2, c]), n * outH, outW, c); // [n * outH, outW, c]
    return tf.reshape(byCols, [n, outH, outW, c]);
  });
}

/**
 * pairs [b, out + 1, 2, inner] -> [b, out, inner] with out[i] = max(pairs[i][0], pairs[i][1], pairs[i + 1][0]).
 * tf.maximum gives a tie's gradient to one side only, as torch's max-pool gradient goes to one index.
 */
function windowMax(pairs: tf.Tensor, b: number, out: number, inner: number): tf.Tensor3D {
  const flat = tf.reshape(pairs, [b * (out + 1), 2, inner]) as tf.Tensor3D;
  const first = tf.reshape(tf.slice(flat, [0, 0, 0], [-1, 1, -1]), [b, out + 1, inner]) as tf.Tensor3D;
  const second = tf.reshape(tf.slice(flat, [0, 1, 0], [-1, 1, -1]), [b, out + 1, inner]) as tf.Tensor3D;
  const pairMax = tf.slice(tf.maximum(first, second), [0, 0, 0], [-1, out, -1]);
  return tf.maximum(pairMax, tf.slice(first, [0, 1, 0], [-1, out, -1]));
}

/**
 * Sums [N, L] over L -> [N]: in chunks of `chunk` values, then chunks of the partial sums (a tree of fan-out
 * `chunk`). Each float32 sum stays short, so
 * the result stays close to PyTorch's (which reduces in blocks with several accumulators). wasm's Sum accumulates
 * sequentially in float32: 2^20 terms of 0.1 come out 1e-2 relative off (the cpu backend accumulates in double).
 */
export function rowSumChunked(x: tf.Tensor2D, chunk = 256): tf.Tensor1D {
  return tf.tidy(() => {
    // Sum chunks of `chunk` values, then chunks of those partial sums, ... until one chunk is left.
    let t: tf.Tensor2D = x;
    while (t.shape[1] > chunk) {
      const [n, l] = t.shape;
      const padded = tf.pad(t, [[0, 0], [0, (chunk - (l % chunk)) % chunk]]);
      t = tf.sum(tf.reshape(padded, [n, -1, chunk]), 2) as tf.Tensor2D;
    }
    return tf.sum(t, 1) as tf.Tensor1D;
  });
}
