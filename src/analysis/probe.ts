import type * as tf from '@tensorflow/tfjs-core';

/** Stages the collapsed-filter statistics are grouped by. */
export type Stage = 'stem' | 'res2' | 'res3' | 'res4' | 'res5' | 'fpn' | 'head-cls' | 'head-box';
export const STAGES: readonly Stage[] = ['stem', 'res2', 'res3', 'res4', 'res5', 'fpn', 'head-cls', 'head-box'];

/** One ReLU site in the network, named the way parameter names are (`backbone.res3.1.relu2`). */
export interface ReluSite {
  stage: Stage;
  name: string;
}

/** The affine parameters of the norm layer whose output feeds a ReLU site directly. */
export interface NormView {
  /** [C] scale and shift as applied: y = gamma * xhat + beta + alpha (alpha = 0 for BN / FrozenBN). */
  gamma: tf.Tensor1D;
  beta: tf.Tensor1D;
  alpha: number;
}

/**
 * Watches the activations of a forward pass. The model calls `observe` at every ReLU site with the tensor fed into
 * the ReLU; `norm` is given when that input is a norm layer's output (conv -> norm -> ReLU), not for sites fed by a
 * residual sum or a bare conv. Implementations must not keep the tensors: reduce them (per-channel max) and let the
 * caller's tidy free them.
 */
export interface ActivationProbe {
  observe(site: ReluSite, preRelu: tf.Tensor4D, norm?: NormView): void;
}
