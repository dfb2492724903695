import type { ModelConfig } from '../config/types.js';
import { Rng } from '../util/rng.js';
import { Fpn } from './fpn.js';
import { RetinaNet } from './retinanet.js';
import { RetinaNetHead } from './retinanet-head.js';
import { ResNet, type NormSpec } from './resnet.js';

/** The backbone norm settings of a model config, as makeNorm takes them. */
export function normSpecOf(cfg: ModelConfig): NormSpec {
  return {
    kind: cfg.norm,
    options: {
      epsilon: cfg.bnEpsilon,
      momentum: cfg.bnMomentum,
      affineTrainable: cfg.normAffineTrainable,
      useRunningStats: cfg.normEval,
      alpha: cfg.psbnAlpha,
    },
  };
}

/** The ResNet body a model config describes. */
export function buildBackbone(cfg: ModelConfig, rng: Rng): ResNet {
  return new ResNet({
    depth: cfg.depth,
    widthMultiplier: cfg.widthMultiplier,
    norm: normSpecOf(cfg),
    frozenStages: cfg.frozenStages,
    rng,
  });
}

/**
 * Builds a randomly initialised RetinaNet from its config (the only place that reads ModelConfig). Weights follow
 * torchvision's init rules per module, drawn from `rng` (seed 0 by default).
 */
export function buildRetinaNet(cfg: ModelConfig, rng: Rng = new Rng(0)): RetinaNet {
  const backbone = buildBackbone(cfg, rng);
  const fpn = new Fpn({ inChannels: backbone.outChannels, outChannels: cfg.fpnChannels, p6Input: cfg.p6Input, rng });
  const head = new RetinaNetHead({
    inChannels: cfg.fpnChannels,
    numAnchors: cfg.anchorScales.length * cfg.aspectRatios.length,
    numClasses: cfg.numClasses,
    depth: cfg.headDepth,
    channels: cfg.headChannels,
    priorProbability: cfg.priorProbability,
    rng,
  });
  return new RetinaNet(backbone, fpn, head, cfg);
}
