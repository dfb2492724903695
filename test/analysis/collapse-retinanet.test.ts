import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { CollapseProbe } from '../../src/analysis/collapse.js';
import { measureCollapse } from '../../src/analysis/measure.js';
import { defaultConfig } from '../../src/config/defaults.js';
import type { ModelConfig, NormKind } from '../../src/config/types.js';
import { buildRetinaNet } from '../../src/model/build.js';
import { Rng } from '../../src/util/rng.js';

/** A tiny RetinaNet: ResNet-18 at 1/8 width (stage widths 8, 8, 16, 32, 64), FPN 16, two 16-wide head convs. */
function tinyConfig(norm: NormKind): ModelConfig {
  const c = defaultConfig().model;
  return { ...c, depth: 18, widthMultiplier: 0.125, fpnChannels: 16, headChannels: 16, headDepth: 2, numClasses: 3, norm, normAffineTrainable: true, normEval: false, frozenStages: 0 };
}

function images(seed: number, n = 2): tf.Tensor4D[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => tf.tensor4d(Float32Array.from({ length: 64 * 64 * 3 }, () => rng.normal()), [1, 64, 64, 3]));
}

describe('collapse statistics of a real RetinaNet', () => {
  it('sees every ReLU site, grouped by stage, with the parameter view where a norm feeds the ReLU', async () => {
    const model = buildRetinaNet(tinyConfig('bn'));
    const report = await measureCollapse(model, images(1));
    // ResNet-18: stem 1 site x 8; each of res2..res5 has 2 basic blocks x (relu1 norm-fed + relu_out after the sum):
    // res2 4 x 8 = 32, res3 4 x 16 = 64, res4 4 x 32 = 128, res5 4 x 64 = 256; FPN's P6 ReLU 16; two head convs
    // per tower x 16 = 32 each. Norm-fed: stem 8, res2 2 x 8 = 16, res3 32, res4 64, res5 128; none after.
    expect(report.stages.map((s) => [s.stage, s.sites, s.channels, s.normChannels])).toEqual([
      ['stem', 1, 8, 8], ['res2', 4, 32, 16], ['res3', 4, 64, 32], ['res4', 4, 128, 64], ['res5', 4, 256, 128],
      ['fpn', 1, 16, 0], ['head-cls', 2, 32, 0], ['head-box', 2, 32, 0],
    ]);
    expect(report.total.channels).toBe(8 + 32 + 64 + 128 + 256 + 16 + 32 + 32);
    // Two images; the head towers run on 5 pyramid levels per image (10 maps), the report says 2 images.
    expect(report.images).toBe(2);
    expect(report.sites.find((s) => s.name === 'head.cls.tower.0.relu')!.images).toBe(10);
    model.dispose();
  });

  it('counts a channel whose norm parameters are pushed below zero as dead and parameter-collapsed', async () => {
    const model = buildRetinaNet(tinyConfig('bn'));
    const norm = (name: string) => model.params().find((p) => p.name === name)!.variable;
    // Stem channel 3: gamma 0.001, beta -5. In inference mode BN uses running stats (mean 0, var 1 at init), so the
    // ReLU input is 0.001 * conv + (-5): below 0 unless the conv output exceeds 5000. Dead, and |gamma| < 0.01 with
    // beta <= 0: parameter-collapsed.
    tf.tidy(() => {
      norm('backbone.stem.bn.gamma').assign(tf.tensor1d([1, 1, 1, 0.001, 1, 1, 1, 1]));
      norm('backbone.stem.bn.beta').assign(tf.tensor1d([0, 0, 0, -5, 0, 0, 0, 0]));
    });
    const report = await measureCollapse(model, images(2), { gammaThreshold: 0.01 });
    const stem = report.sites.find((s) => s.name === 'backbone.stem.relu')!;
    expect(stem.deadChannels).toContain(3);
    expect(stem.paramCollapsed).toBe(1);
    model.dispose();
  });

  it('psBN: the same parameters with alpha 0.1 and beta -0.05 keep the channel out of the parameter view', async () => {
    const model = buildRetinaNet({ ...tinyConfig('psbn'), psbnAlpha: 0.1 });
    const norm = (name: string) => model.params().find((p) => p.name === name)!.variable;
    // gamma 0.001, beta -0.05: beta + alpha = +0.05 > 0, and the ReLU input 0.001 * conv + 0.05 is positive wherever
    // |conv| < 50, so the channel is alive and not parameter-collapsed. Under BN (alpha 0) it would be both.
    tf.tidy(() => {
      norm('backbone.stem.bn.gamma').assign(tf.tensor1d([1, 1, 1, 0.001, 1, 1, 1, 1]));
      norm('backbone.stem.bn.beta').assign(tf.tensor1d([0, 0, 0, -0.05, 0, 0, 0, 0]));
    });
    const report = await measureCollapse(model, images(3));
    const stem = report.sites.find((s) => s.name === 'backbone.stem.relu')!;
    expect(stem.alpha).toBe(0.1);
    expect(stem.deadChannels).not.toContain(3);
    expect(stem.paramCollapsed).toBe(0);
    model.dispose();
  });

  it('leaves no tensor behind over a probe pass of the whole model', async () => {
    const model = buildRetinaNet(tinyConfig('psbn'));
    // A first pass lets the model create what it caches on first use (psBN's alpha scalars).
    tf.tidy(() => {
      model.forward(tf.zeros([1, 64, 64, 3]), { training: false });
    });
    const before = tf.memory().numTensors;
    await measureCollapse(model, images(4));
    expect(tf.memory().numTensors).toBe(before);
    // And a probe held across passes owns exactly one [C] max per site plus gamma and beta per norm-fed site.
    const probe = new CollapseProbe();
    tf.tidy(() => {
      model.forward(tf.zeros([1, 64, 64, 3]), { training: false, probe });
    });
    // 22 sites, 9 of them norm-fed (stem + one relu1 per block): 22 + 2 x 9 = 40 tensors.
    expect(tf.memory().numTensors).toBe(before + 40);
    probe.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
