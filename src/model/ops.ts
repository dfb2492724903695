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
 * with -inf. Written with pad, reshape, slice and maximum (window rows 2i-1, 2i, 2i+1 = pair (2i-1, 2i) and the next
 * pair's first row) so the forward and the gradient are right on every backend (wasm's MaxPoolGrad is not).
 */
export function maxPool3x3s2(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const outH = Math.floor((h - 1) / 2) + 1;
    const outW = Math.floor((w - 1) / 2) + 1;
    // Padded length 2 * out + 2: one -inf row in front, the rest behind.
    const padded = tf.pad(x, [[0, 0], [1, 2 * outH + 1 - h], [1, 2 * outW + 1 - w], [0, 0]], -Infinity);
    // Rows: padded index p = 2i + r, r in {0, 1}; window i covers 2i, 2i+1, 2i+2.
    const rows = tf.reshape(padded, [n, outH + 1, 2, 2 * outW + 2, c]) as tf.Tensor5D;
    const pairMaxRows = pairMax(rows, 2); // [n, outH + 1, Wp, c]
    const evenRows = tf.squeeze(tf.slice(rows, [0, 1, 0, 0, 0], [-1, outH, 1, -1, -1]), [2]);
    const byRows = tf.maximum(tf.slice(pairMaxRows, [0, 0, 0, 0], [-1, outH, -1, -1]), evenRows); // [n, outH, Wp, c]
    const cols = tf.reshape(byRows, [n, outH, outW + 1, 2, c]) as tf.Tensor5D;
    const pairMaxCols = pairMax(cols, 3);
    const evenCols = tf.squeeze(tf.slice(cols, [0, 0, 1, 0, 0], [-1, -1, outW, 1, -1]), [3]);
    return tf.maximum(tf.slice(pairMaxCols, [0, 0, 0, 0], [-1, -1, outW, -1]), evenCols) as tf.Tensor4D;
  });
}

/** max over an axis of size 2 as tf.maximum of the two halves (one winner on ties, as torch's max-pool gradient). */
function pairMax(x: tf.Tensor5D, axis: number): tf.Tensor4D {
  const [first, second] = tf.split(x, 2, axis);
  return tf.squeeze(tf.maximum(first!, second!), [axis]) as tf.Tensor4D;
}
