import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import { deploySpecOf, foldState, normConstantsOf, normNameOf, type NamedTensors } from '../../src/export/fold-state.js';

async function values(t: tf.Tensor | undefined): Promise<number[]> {
  return Array.from(await t!.data()).map((v) => Number(v.toFixed(6)));
}

describe('normNameOf', () => {
  it('pairs convN with bnN and conv with bn, and nothing else', () => {
    expect(normNameOf('backbone.stem.conv')).toBe('backbone.stem.bn');
    expect(normNameOf('backbone.res2.0.conv3')).toBe('backbone.res2.0.bn3');
    expect(normNameOf('backbone.res3.0.downsample.conv')).toBe('backbone.res3.0.downsample.bn');
    expect(normNameOf('fpn.p6')).toBeNull();
    expect(normNameOf('head.cls.logits')).toBeNull();
  });
});

describe('foldState', () => {
  function state(): NamedTensors {
    return {
      'b.res2.0.conv1.weight': tf.tensor4d([2, 3], [1, 1, 1, 2]),
      'b.res2.0.bn1.gamma': tf.tensor1d([1, 0.5]),
      'b.res2.0.bn1.beta': tf.tensor1d([0.1, -0.2]),
      'b.res2.0.bn1.running_mean': tf.tensor1d([1, 2]),
      'b.res2.0.bn1.running_var': tf.tensor1d([3, 15]),
      'fpn.p6.weight': tf.tensor4d([5], [1, 1, 1, 1]),
      'fpn.p6.bias': tf.tensor1d([7]),
      'head.x.weight': tf.tensor4d([4], [1, 1, 1, 1]),
    };
  }

  it('folds conv + norm pairs, keeps plain convs, gives bias-free convs a zero bias', async () => {
    const s = state();
    const before = tf.memory().numTensors;
    const out = foldState(s, () => ({ eps: 1, alpha: 0.3 }));
    expect(Object.keys(out).sort()).toEqual([
      'b.res2.0.conv1.bias',
      'b.res2.0.conv1.weight',
      'fpn.p6.bias',
      'fpn.p6.weight',
      'head.x.bias',
      'head.x.weight',
    ]);
    // s = gamma / sqrt(var + eps) = [1 / 2, 0.5 / 4]; w' = [2 * 0.5, 3 * 0.125] = [1, 0.375];
    // b' = -mean * s + beta + alpha = [-0.5 + 0.1 + 0.3, -0.25 - 0.2 + 0.3] = [-0.1, -0.15].
    expect(await values(out['b.res2.0.conv1.weight'])).toEqual([1, 0.375]);
    expect(await values(out['b.res2.0.conv1.bias'])).toEqual([-0.1, -0.15]);
    expect(await values(out['fpn.p6.weight'])).toEqual([5]);
    expect(await values(out['fpn.p6.bias'])).toEqual([7]);
    expect(await values(out['head.x.bias'])).toEqual([0]);
    expect(tf.memory().numTensors).toBe(before + 6);
    tf.dispose(Object.values(out));
    tf.dispose(Object.values(s));
  });

  it('refuses a norm that follows no conv, naming it, without leaking', () => {
    const s = { ...state(), 'b.res2.0.bn9.gamma': tf.tensor1d([1]) };
    const before = tf.memory().numTensors;
    expect(() => foldState(s, () => ({ eps: 1e-5, alpha: 0 }))).toThrow('fold: tensors that belong to no conv: b.res2.0.bn9.gamma');
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(s));
  });
});

describe('normConstantsOf / deploySpecOf', () => {
  it('uses psBN alpha only for psBN and copies layout, anchors and input settings', () => {
    const cfg = defaultConfig();
    cfg.model.norm = 'psbn';
    cfg.model.psbnAlpha = 0.2;
    expect(normConstantsOf(cfg.model)('x.bn')).toEqual({ eps: 1e-5, alpha: 0.2 });
    cfg.model.norm = 'frozen_bn';
    expect(normConstantsOf(cfg.model)('x.bn').alpha).toBe(0);
    cfg.model.depth = 18;
    cfg.model.numClasses = 2;
    const spec = deploySpecOf(cfg, { ids: [1, 3], names: ['a', 'b'] });
    expect([spec.block, spec.stageBlocks, spec.input.minSize, spec.input.maxSize]).toEqual(['basic', [2, 2, 2, 2], 800, 1333]);
    expect(() => deploySpecOf(cfg, { ids: [1], names: ['a'] })).toThrow('1 categories for a model with 2 classes');
  });
});
