import * as tf from '@tensorflow/tfjs-core';

/**
 * Kernel inputs arrive as `TensorInfo`; when a kernel is run through the public API they are the calling op's
 * tensors. Repairs are written with the backend-neutral ops, so they need those tensors back.
 */
export function asTensor<R extends tf.Rank>(info: tf.TensorInfo, what: string): tf.Tensor<R> {
  if (info instanceof tf.Tensor) return info as tf.Tensor<R>;
  throw new Error(`kernel repair: input "${what}" is not a tensor (called below the public API)`);
}

/**
 * Pads (positive amounts) or crops (negative amounts) the height and width of an NHWC tensor.
 * @param x `[N, H, W, C]`
 * @returns `[N, H + top + bottom, W + left + right, C]`
 */
export function padOrCrop(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  let y = x;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const t = Math.max(0, -top);
    const l = Math.max(0, -left);
    const hh = h - t - Math.max(0, -bottom);
    const ww = w - l - Math.max(0, -right);
    y = tf.slice(y, [0, t, l, 0], [n, hh, ww, c]);
  }
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    y = tf.pad(y, [[0, 0], [Math.max(0, top), Math.max(0, bottom)], [Math.max(0, left), Math.max(0, right)], [0, 0]]);
  }
  return y;
}
