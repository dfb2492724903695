import * as tf from '@tensorflow/tfjs-core';

/**
 * A norm layer as it acts at inference: y = gamma * (x - mean) / sqrt(var + eps) + beta + alpha, per channel.
 * BN in eval mode and FrozenBN have alpha = 0; psBN adds its fixed post-shift alpha.
 */
export interface NormAtInference {
  /** [C] */
  gamma: tf.Tensor1D;
  /** [C] */
  beta: tf.Tensor1D;
  /** [C] running (or frozen) mean. */
  mean: tf.Tensor1D;
  /** [C] running (or frozen) variance. */
  variance: tf.Tensor1D;
  eps: number;
  /** psBN's post-shift; 0 for BN and FrozenBN. */
  alpha: number;
}

/** A convolution with a bias, as a deploy model stores it. */
export interface FoldedConv {
  /** [kh, kw, in, out] HWIO. */
  weight: tf.Tensor4D;
  /** [out] */
  bias: tf.Tensor1D;
}

/**
 * Folds a norm layer into the convolution before it, so that conv'(x) = norm(conv(x)) for every x:
 * with s = gamma / sqrt(var + eps) per output channel, w' = w * s and b' = (b - mean) * s + beta + alpha.
 * `weight` is HWIO [kh, kw, in, out]; `bias` [out] or null for a bias-free conv. Returns new tensors; the inputs
 * are left alone.
 */
export function foldNormIntoConv(weight: tf.Tensor4D, bias: tf.Tensor1D | null, norm: NormAtInference): FoldedConv {
  const out = weight.shape[3];
  for (const [field, t] of [
    ['gamma', norm.gamma],
    ['beta', norm.beta],
    ['mean', norm.mean],
    ['variance', norm.variance],
  ] as const) {
    if (t.size !== out) throw new Error(`foldNormIntoConv: norm ${field} has ${t.size} channels, the conv has ${out} outputs`);
  }
  if (bias !== null && bias.size !== out) throw new Error(`foldNormIntoConv: bias has ${bias.size} channels, the conv has ${out}`);
  return tf.tidy(() => {
    const scale = tf.div(norm.gamma, tf.sqrt(tf.add(norm.variance, norm.eps)));
    const foldedWeight = tf.mul(weight, tf.reshape(scale, [1, 1, 1, out])) as tf.Tensor4D;
    const b = bias ?? tf.zeros([out]);
    const foldedBias = tf.add(tf.add(tf.mul(tf.sub(b, norm.mean), scale), norm.beta), norm.alpha) as tf.Tensor1D;
    return { weight: foldedWeight, bias: foldedBias };
  });
}

/** y = gamma * (x - mean) / sqrt(var + eps) + beta + alpha on NHWC `x`: the reference the fold is checked against. */
export function applyNormAtInference(x: tf.Tensor4D, norm: NormAtInference): tf.Tensor4D {
  return tf.tidy(() =>
    tf.add(
      tf.add(tf.mul(tf.div(tf.sub(x, norm.mean), tf.sqrt(tf.add(norm.variance, norm.eps))), norm.gamma), norm.beta),
      norm.alpha,
    ),
  );
}
