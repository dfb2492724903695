import * as tf from '@tensorflow/tfjs-core';
import type { Config, ModelConfig } from '../config/types.js';
import { foldNormIntoConv } from '../model/fold.js';
import type { DeploySpec, DeployWeights } from './runtime.js';

/** A model's tensors by dotted name: parameters (`.weight`, `.bias`, `.gamma`, `.beta`) and buffers (`.running_*`). */
export type NamedTensors = Record<string, tf.Tensor>;

/** Epsilon and post-shift of the norm layer called `normName`. */
export type NormConstants = (normName: string) => { eps: number; alpha: number };

/**
 * The norm that follows conv `convName` in the training model: `...conv` -> `...bn`, `...convN` -> `...bnN`
 * (the names every conv + norm unit of the backbone uses), or null when the name has no such form.
 */
export function normNameOf(convName: string): string | null {
  const m = /^(.*\.)?conv(\d*)$/.exec(convName);
  return m === null ? null : `${m[1] ?? ''}bn${m[2]}`;
}

/**
 * Folds every norm into the conv before it: each conv `C` (a rank-4 `C.weight`) becomes `C.weight` and `C.bias`
 * of the deploy model; where a norm `N` = normNameOf(C) exists (`N.gamma`, `N.beta`, `N.running_mean`,
 * `N.running_var`), w' = w * s and b' = (b - mean) * s + beta + alpha with s = gamma / sqrt(var + eps); a conv
 * without a bias gets b = 0. Norm tensors are consumed by the fold and do not appear in the output. Returns new
 * tensors (the caller disposes them); `state` is left alone.
 */
export function foldState(state: NamedTensors, normConstants: NormConstants): DeployWeights {
  const out: DeployWeights = {};
  const used = new Set<string>();
  for (const [name, tensor] of Object.entries(state)) {
    if (!name.endsWith('.weight') || tensor.rank !== 4) continue;
    const conv = name.slice(0, -'.weight'.length);
    const weight = tensor as tf.Tensor4D;
    const bias = (state[`${conv}.bias`] as tf.Tensor1D | undefined) ?? null;
    used.add(name).add(`${conv}.bias`);
    const norm = normNameOf(conv);
    if (norm !== null && `${norm}.gamma` in state) {
      const get = (field: string): tf.Tensor1D => {
        const t = state[`${norm}.${field}`];
        if (t === undefined) throw new Error(`fold: norm "${norm}" has no ${field}`);
        used.add(`${norm}.${field}`);
        return t as tf.Tensor1D;
      };
      const { eps, alpha } = normConstants(norm);
      const folded = foldNormIntoConv(weight, bias, {
        gamma: get('gamma'),
        beta: get('beta'),
        mean: get('running_mean'),
        variance: get('running_var'),
        eps,
        alpha,
      });
      out[`${conv}.weight`] = folded.weight;
      out[`${conv}.bias`] = folded.bias;
    } else {
      out[`${conv}.weight`] = tf.clone(weight);
      out[`${conv}.bias`] = bias === null ? tf.zeros([weight.shape[3]]) : tf.clone(bias);
    }
  }
  const left = Object.keys(state).filter((n) => !used.has(n));
  if (left.length > 0) {
    tf.dispose(Object.values(out));
    throw new Error(`fold: tensors that belong to no conv: ${left.slice(0, 5).join(', ')}${left.length > 5 ? ', ...' : ''}`);
  }
  return out;
}

/** The backbone's norm constants as a model config sets them: one epsilon, psBN's alpha (0 for BN / FrozenBN). */
export function normConstantsOf(cfg: ModelConfig): NormConstants {
  const alpha = cfg.norm === 'psbn' ? cfg.psbnAlpha : 0;
  return () => ({ eps: cfg.bnEpsilon, alpha });
}

/** Blocks per stage and block kind of each ResNet depth (torchvision). */
const LAYOUT: Record<number, { block: 'basic' | 'bottleneck'; stageBlocks: [number, number, number, number] }> = {
  18: { block: 'basic', stageBlocks: [2, 2, 2, 2] },
  34: { block: 'basic', stageBlocks: [3, 4, 6, 3] },
  50: { block: 'bottleneck', stageBlocks: [3, 4, 6, 3] },
  101: { block: 'bottleneck', stageBlocks: [3, 4, 23, 3] },
};

/** The deploy spec of a resolved config, with the category id and name of each contiguous label. */
export function deploySpecOf(cfg: Config, categories: { ids: number[]; names: string[] }): DeploySpec {
  const m = cfg.model;
  const layout = LAYOUT[m.depth];
  if (layout === undefined) throw new Error(`deploy spec: unsupported depth ${m.depth}`);
  if (categories.ids.length !== m.numClasses) {
    throw new Error(`deploy spec: ${categories.ids.length} categories for a model with ${m.numClasses} classes`);
  }
  return {
    format: 'psdet-retinanet-deploy',
    version: 1,
    block: layout.block,
    stageBlocks: [...layout.stageBlocks],
    p6Input: m.p6Input,
    headDepth: m.headDepth,
    numClasses: m.numClasses,
    anchorSizes: [...m.anchorSizes],
    anchorScales: [...m.anchorScales],
    aspectRatios: [...m.aspectRatios],
    boxCoderWeights: [...m.boxCoderWeights],
    scoreThreshold: m.scoreThreshold,
    topkCandidates: m.topkCandidates,
    nmsThreshold: m.nmsThreshold,
    detectionsPerImage: m.detectionsPerImage,
    input: {
      minSize: cfg.input.testMinSize,
      maxSize: cfg.input.maxSize,
      sizeDivisor: cfg.input.sizeDivisor,
      pixelMean: [...cfg.input.pixelMean],
      pixelStd: [...cfg.input.pixelStd],
    },
    categories: { ids: [...categories.ids], names: [...categories.names] },
  };
}
