// The norm behaviour printed at the start of a run is read back from the built layers: counted here by hand for
// ResNet-18 (stem 1 + 8 blocks x 2 + 3 downsamples = 20 norms; the stem and res2 hold 1 + 4 of them).
import { afterEach, describe, expect, it } from 'vitest';
import { buildRetinaNet } from '../../src/model/build.js';
import type { RetinaNet } from '../../src/model/retinanet.js';
import { backboneNorms, formatNormBehaviour, normBehaviour } from '../../src/model/resnet.js';
import { Rng } from '../../src/util/rng.js';
import { tinyModelConfig } from './tiny.js';

let model: RetinaNet | null = null;
afterEach(() => model?.dispose());

function behaviour(overrides: Parameters<typeof tinyModelConfig>[0]): ReturnType<typeof normBehaviour> {
  model?.dispose();
  model = buildRetinaNet(tinyModelConfig(overrides), new Rng(0));
  return normBehaviour(backboneNorms(model.backbone));
}

describe('norm behaviour read back from the built backbone', () => {
  it('BN: every layer uses batch statistics and trains gamma/beta; frozen stages 2 take the stem and res2 out', () => {
    expect(behaviour({ norm: 'bn' })).toEqual({ layers: 20, kinds: { bn: 20 }, batchStats: 20, affineTrained: 20 });
    expect(behaviour({ norm: 'bn', frozenStages: 2 })).toEqual({ layers: 20, kinds: { bn: 20 }, batchStats: 15, affineTrained: 15 });
  });

  it('psBN with normEval and a frozen affine (the COCO recipe fields) trains nothing and uses no batch statistics', () => {
    expect(behaviour({ norm: 'psbn', normEval: true, normAffineTrainable: false })).toEqual({ layers: 20, kinds: { psbn: 20 }, batchStats: 0, affineTrained: 0 });
    expect(formatNormBehaviour(normBehaviour(backboneNorms(model!.backbone)))).toBe(
      'backbone norms as built: 20 psbn; batch statistics in training: 0 of 20; gamma/beta trained: 0 of 20',
    );
  });

  it('FrozenBN never uses batch statistics nor trains, whatever the other fields say', () => {
    expect(behaviour({ norm: 'frozen_bn', normEval: false, normAffineTrainable: true })).toEqual({ layers: 20, kinds: { frozen_bn: 20 }, batchStats: 0, affineTrained: 0 });
  });
});
