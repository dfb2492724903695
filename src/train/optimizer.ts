import * as tf from '@tensorflow/tfjs-core';
import type { OptimizerKind, SolverConfig } from '../config/types.js';
import type { NamedParam, ParamKind } from '../model/module.js';
import { InputError } from '../util/errors.js';

/** The optimizer-relevant part of the solver settings. */
export type OptimizerSettings = Pick<
  SolverConfig,
  'optimizer' | 'momentum' | 'weightDecay' | 'weightDecayNorm' | 'weightDecayBias' | 'adamBetas' | 'adamEpsilon'
>;

/** Parameters that share a weight decay: conv / linear weights, biases, norm gamma and beta. */
export interface ParamGroup {
  kind: ParamKind;
  weightDecay: number;
  params: NamedParam[];
}

/** Gradients keyed by the tf.Variable name, as `tf.variableGrads` returns them. */
export type GradMap = Record<string, tf.Tensor>;

/** Everything an optimizer needs to continue exactly where it stopped. */
export interface OptimizerState {
  kind: OptimizerKind;
  /** Adam / AdamW: optimizer steps taken per parameter name (the bias correction needs it). */
  steps: Record<string, number>;
  /** Slot tensors by `<slot>.<param name>` (`momentum.x`, `exp_avg.x`, `exp_avg_sq.x`). */
  tensors: Record<string, tf.Tensor>;
}

/**
 * Splits the trainable parameters into the three weight-decay groups of the solver config; frozen parameters are
 * left out, so the optimizer never touches them.
 */
export function paramGroups(params: readonly NamedParam[], solver: OptimizerSettings): ParamGroup[] {
  const decay: Record<ParamKind, number> = {
    weight: solver.weightDecay,
    bias: solver.weightDecayBias,
    norm: solver.weightDecayNorm,
  };
  const kinds: ParamKind[] = ['weight', 'bias', 'norm'];
  return kinds
    .map((kind) => ({ kind, weightDecay: decay[kind], params: params.filter((p) => p.trainable && p.kind === kind) }))
    .filter((group) => group.params.length > 0);
}

/** sqrt(sum of squares over every gradient): the norm `clipGradients` compares with its limit. Scalar tensor. */
export function globalNorm(grads: GradMap): tf.Scalar {
  return tf.tidy(() => {
    const squares = Object.values(grads).map((g) => tf.sum(tf.square(g)));
    return squares.length === 0 ? tf.scalar(0) : (tf.sqrt(tf.addN(squares)) as tf.Scalar);
  });
}

/**
 * PyTorch's clip_grad_norm_: when `norm` exceeds `maxNorm`, every gradient is multiplied by
 * maxNorm / (norm + 1e-6). Returns new tensors (the caller disposes the old map) or the same map when no
 * clipping is needed (maxNorm <= 0 means off).
 */
export function clipGradients(grads: GradMap, norm: number, maxNorm: number): GradMap {
  if (maxNorm <= 0) return grads;
  const coef = maxNorm / (norm + 1e-6);
  if (coef >= 1) return grads;
  const out: GradMap = {};
  for (const [name, g] of Object.entries(grads)) out[name] = tf.tidy(() => tf.mul(g, coef));
  return out;
}

interface Slot {
  param: NamedParam;
  weightDecay: number;
  buffers: Record<string, tf.Variable>;
}

const SLOT_NAMES: Record<OptimizerKind, string[]> = {
  sgd: ['momentum'],
  adam: ['exp_avg', 'exp_avg_sq'],
  adamw: ['exp_avg', 'exp_avg_sq'],
};

/**
 * SGD with momentum, Adam and AdamW with PyTorch's update rules, over parameter groups with separate weight decay.
 * - sgd:   d = g + wd * p;  buf = m * buf + d;  p -= lr * buf  (buf starts at 0, which equals PyTorch's first-step copy)
 * - adam:  g += wd * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *          p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * - adamw: p *= 1 - lr * wd, then the adam step without decay in the gradient.
 * Owns its slot tensors: call `dispose` when done.
 */
export class Optimizer {
  readonly kind: OptimizerKind;
  readonly groups: ParamGroup[];
  private readonly settings: OptimizerSettings;
  private readonly slots: Slot[] = [];
  private steps: Record<string, number> = {};

  constructor(params: readonly NamedParam[], settings: OptimizerSettings) {
    this.kind = settings.optimizer;
    this.settings = settings;
    this.groups = paramGroups(params, settings);
    for (const group of this.groups) {
      for (const param of group.params) {
        const buffers: Record<string, tf.Variable> = {};
        for (const slot of SLOT_NAMES[this.kind]) {
          buffers[slot] = tf.tidy(() => tf.variable(tf.zerosLike(param.variable), false));
        }
        this.slots.push({ param, weightDecay: group.weightDecay, buffers });
        this.steps[param.name] = 0;
      }
    }
  }

  /** The variables this optimizer updates (pass them to `tf.variableGrads`). */
  variables(): tf.Variable[] {
    return this.slots.map((s) => s.param.variable);
  }

  /**
   * One update with rate `lr`. Parameters with no gradient in `grads` are skipped (PyTorch's grad None).
   * Does not dispose `grads`.
   */
  step(grads: GradMap, lr: number): void {
    const { momentum, adamBetas, adamEpsilon } = this.settings;
    for (const slot of this.slots) {
      const grad = grads[slot.param.variable.name];
      if (grad === undefined) continue;
      const p = slot.param.variable;
      const wd = slot.weightDecay;
      const b = slot.buffers;
      tf.tidy(() => {
        if (this.kind === 'sgd') {
          const d = wd !== 0 ? tf.add(grad, tf.mul(p, wd)) : grad;
          const buf = tf.add(tf.mul(b.momentum!, momentum), d);
          b.momentum!.assign(buf);
          p.assign(tf.sub(p, tf.mul(buf, lr)));
          return;
        }
        const t = this.steps[slot.param.name]! + 1;
        const [beta1, beta2] = adamBetas;
        let g: tf.Tensor = grad;
        let param: tf.Tensor = p;
        if (this.kind === 'adam' && wd !== 0) g = tf.add(g, tf.mul(p, wd));
        if (this.kind === 'adamw' && wd !== 0) param = tf.mul(p, 1 - lr * wd);
        const m = tf.add(tf.mul(b.exp_avg!, beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(b.exp_avg_sq!, beta2), tf.mul(tf.mul(g, g), 1 - beta2));
        b.exp_avg!.assign(m);
        b.exp_avg_sq!.assign(v);
        const stepSize = lr / (1 - beta1 ** t);
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(1 - beta2 ** t)), adamEpsilon);
        p.assign(tf.sub(param, tf.mul(tf.div(m, denom), stepSize)));
      });
      this.steps[slot.param.name] = this.steps[slot.param.name]! + 1;
    }
  }

  /** The state to checkpoint. The tensors are the optimizer's own: read them, do not dispose them. */
  state(): OptimizerState {
    const tensors: Record<string, tf.Tensor> = {};
    for (const slot of this.slots) {
      for (const [slotName, variable] of Object.entries(slot.buffers)) tensors[`${slotName}.${slot.param.name}`] = variable;
    }
    return { kind: this.kind, steps: { ...this.steps }, tensors };
  }

  /**
   * Restores a state saved by `state()`; `source` names the checkpoint for error messages. Every slot must be
   * present with the parameter's shape.
   */
  loadState(state: OptimizerState, source: string): void {
    if (state.kind !== this.kind) {
      throw new InputError(`${source}: optimizer state is for "${state.kind}" but this run uses "${this.kind}"`);
    }
    for (const slot of this.slots) {
      for (const [slotName, variable] of Object.entries(slot.buffers)) {
        const key = `${slotName}.${slot.param.name}`;
        const saved = state.tensors[key];
        if (saved === undefined) throw new InputError(`${source}: optimizer state misses "${key}"`);
        if (!tf.util.arraysEqual(saved.shape, variable.shape)) {
          throw new InputError(`${source}: optimizer state "${key}" has shape [${saved.shape}], expected [${variable.shape}]`);
        }
        variable.assign(saved);
      }
      this.steps[slot.param.name] = state.steps[slot.param.name] ?? 0;
    }
  }

  dispose(): void {
    for (const slot of this.slots) for (const variable of Object.values(slot.buffers)) variable.dispose();
    this.slots.length = 0;
  }
}
