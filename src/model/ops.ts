import * as tf from '@tensorflow/tfjs-core';

/**
 * Nearest-neighbour 2x upsampling (FPN top-down path), written as stack + reshape: the same output as
 * `tf.image.resizeNearestNeighbor(x, [2H, 2W])` with correct gradients on every backend (the cpu backend's
 * ResizeNearestNeighborGrad is wrong for batch > 1).
 * @param x `[N, H, W, C]`
 * @returns `[N, 2H, 2W, C]`, out[n, 2i + a, 2j + b, c] = x[n, i, j, c]
 */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const cols = tf.reshape(tf.stack([x, x], 3), [n, h, 2 * w, c]); // [N, H, W, 2, C] -> [N, H, 2W, C]
    return tf.reshape(tf.stack([cols, cols], 2), [n, 2 * h, 2 * w, c]) as tf.Tensor4D; // [N, H, 2, 2W, C]
  });
}
