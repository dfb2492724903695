import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { ActivationProbe, NormView, ReluSite } from '../../src/analysis/probe.js';
import { buildRetinaNet } from '../../src/model/build.js';
import { Rng } from '../../src/util/rng.js';
import { tinyModelConfig } from './tiny.js';

class RecordingProbe implements ActivationProbe {
  readonly sites: { site: ReluSite; hasNorm: boolean }[] = [];
  observe(site: ReluSite, _preRelu: tf.Tensor4D, norm?: NormView): void {
    this.sites.push({ site, hasNorm: norm !== undefined });
  }
}

describe('RetinaNet networks', () => {
  it('outputs P3..P7 and per-anchor logits and deltas in torchvision layout', () => {
    const model = buildRetinaNet(tinyModelConfig(), new Rng(0));
    const x = tf.zeros([2, 128, 64, 3]) as tf.Tensor4D;
    const out = model.forward(x, { training: false });
    expect(out.features.map((f) => f.shape)).toEqual([
      [2, 16, 8, 16],
      [2, 8, 4, 16],
      [2, 4, 2, 16],
      [2, 2, 1, 16],
      [2, 1, 1, 16],
    ]);
    // A_total = 9 * (128 + 32 + 8 + 2 + 1) = 1539.
    expect(out.clsLogits.shape).toEqual([2, 1539, 3]);
    expect(out.boxDeltas.shape).toEqual([2, 1539, 4]);
    tf.dispose([x, ...out.features, out.clsLogits, out.boxDeltas]);
    model.dispose();
  });

  it('P6 from C5 takes C5 channels; from P5 takes FPN channels', () => {
    const fromC5 = buildRetinaNet(tinyModelConfig({ p6Input: 'c5' }));
    const fromP5 = buildRetinaNet(tinyModelConfig({ p6Input: 'p5' }));
    expect(fromC5.fpn.p6.inChannels).toBe(32);
    expect(fromP5.fpn.p6.inChannels).toBe(16);
    fromC5.dispose();
    fromP5.dispose();
  });

  it('starts the classifier at the prior: zero input gives sigmoid(logit) = 0.01 everywhere', () => {
    const model = buildRetinaNet(tinyModelConfig(), new Rng(0));
    const bias = model.params().find((p) => p.name === 'head.cls.logits.bias')!;
    // -log((1 - 0.01) / 0.01) = -log(99) = -4.59512
    expect(bias.variable.dataSync()[0]).toBeCloseTo(-Math.log(99), 5);
    expect(bias.variable.shape).toEqual([27]);
    model.dispose();
  });

  it('names every parameter by part', () => {
    const model = buildRetinaNet(tinyModelConfig(), new Rng(0));
    const names = model.params().map((p) => p.name);
    for (const name of [
      'backbone.stem.conv.weight',
      'backbone.res2.0.conv1.weight',
      'backbone.res2.0.bn1.gamma',
      'fpn.lateral3.weight',
      'fpn.output5.bias',
      'fpn.p6.weight',
      'fpn.p7.bias',
      'head.cls.tower.0.weight',
      'head.cls.tower.1.bias',
      'head.cls.logits.weight',
      'head.box.deltas.bias',
    ]) {
      expect(names).toContain(name);
    }
    expect(new Set(names).size).toBe(names.length);
    model.dispose();
  });

  it('probes the FPN ReLU before P7 and both head towers on every level', () => {
    const model = buildRetinaNet(tinyModelConfig(), new Rng(0));
    const probe = new RecordingProbe();
    const x = tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
    const out = model.forward(x, { training: false, probe });
    const byStage = (stage: string): string[] => probe.sites.filter((s) => s.site.stage === stage).map((s) => s.site.name);
    expect(byStage('fpn')).toEqual(['fpn.p6_relu']);
    // 2 tower layers x 5 levels.
    expect(byStage('head-cls').length).toBe(10);
    expect(byStage('head-box').slice(0, 2)).toEqual(['head.box.tower.0.relu', 'head.box.tower.1.relu']);
    expect(probe.sites.filter((s) => s.site.stage.startsWith('head') || s.site.stage === 'fpn').every((s) => !s.hasNorm)).toBe(true);
    tf.dispose([x, ...out.features, out.clsLogits, out.boxDeltas]);
    model.dispose();
  });

  it('leaks nothing across forward, backward and dispose; training updates BN running stats', () => {
    const before = tf.memory().numTensors;
    const model = buildRetinaNet(tinyModelConfig(), new Rng(0));
    const built = tf.memory().numTensors;
    const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const stemMean = model.backbone.stem.norm.runningMean;
    expect(Array.from(stemMean.dataSync()).every((v) => v === 0)).toBe(true);
    const { value, grads } = tf.variableGrads(() => {
      const out = model.forward(x, { training: true });
      return tf.add(tf.mean(tf.square(out.clsLogits)), tf.mean(tf.abs(out.boxDeltas))) as tf.Scalar;
    }, model.trainableVariables());
    expect(Object.keys(grads).length).toBe(model.trainableVariables().length);
    expect(Array.from(stemMean.dataSync()).some((v) => v !== 0)).toBe(true);
    tf.dispose([value, ...Object.values(grads)]);
    const out = model.forward(x, { training: false });
    tf.dispose([...out.features, out.clsLogits, out.boxDeltas]);
    x.dispose();
    expect(tf.memory().numTensors).toBe(built);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
