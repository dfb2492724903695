import type * as tf from '@tensorflow/tfjs-core';

/** What a parameter is, for weight-decay groups and freezing. */
export type ParamKind = 'weight' | 'bias' | 'norm';

/** One learnable tensor of a model, with its dotted name (`backbone.res2.0.conv1.weight`). */
export interface NamedParam {
  name: string;
  variable: tf.Variable;
  kind: ParamKind;
  /** False for frozen stages, FrozenBN and non-affine-trainable norms: the optimizer leaves it alone. */
  trainable: boolean;
}

/** A non-learnable tensor saved with the model (BN running mean / variance). */
export interface NamedBuffer {
  name: string;
  variable: tf.Variable;
}

/**
 * Anything that owns tensors. Models are composed of parts handed to their constructor, and a parent lists its
 * children's parameters under a prefix; `dispose` frees every variable it owns.
 */
export interface Module {
  params(): NamedParam[];
  buffers(): NamedBuffer[];
  dispose(): void;
}

/** Prefixes every name of `child`'s params, the way a parent exposes its parts. */
export function prefixed<T extends { name: string }>(prefix: string, items: T[]): T[] {
  return items.map((item) => ({ ...item, name: `${prefix}.${item.name}` }));
}
