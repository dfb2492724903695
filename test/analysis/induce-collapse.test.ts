import { describe, expect, it } from 'vitest';
import { induceCollapse } from '../../src/analysis/induce-collapse.js';
import { measureCollapse } from '../../src/analysis/measure.js';
import { defaultConfig } from '../../src/config/defaults.js';
import { buildRetinaNet } from '../../src/model/build.js';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../src/util/rng.js';

describe('induceCollapse', () => {
  it('collapses a seeded share of every ReLU-feeding backbone norm, and those channels measure as dead', async () => {
    const cfg = { ...defaultConfig().model, depth: 18 as const, widthMultiplier: 0.125, fpnChannels: 8, headChannels: 8, headDepth: 1, numClasses: 2, norm: 'bn' as const, frozenStages: 0 };
    const model = buildRetinaNet(cfg, new Rng(1));
    // ResNet-18 at 1/8 width: stem.bn 8 channels and the bn1 of 8 blocks (8, 8, 16, 16, 32, 32, 64, 64): half of
    // each is 4 + 4 + 4 + 8 + 8 + 16 + 16 + 32 + 32 = 124 channels. bn2 (into the sum) and downsample are left alone.
    const n = induceCollapse(model.backbone.params(), 18, { fraction: 0.5, gamma: 0.005, beta: -0.05, seed: 3 });
    expect(n).toBe(124);
    const gammaOf = (name: string) => Array.from(model.backbone.params().find((p) => p.name === name)!.variable.dataSync());
    expect(gammaOf('stem.bn.gamma').filter((g) => g === Math.fround(0.005))).toHaveLength(4);
    expect(gammaOf('res2.0.bn2.gamma').every((g) => g === 1)).toBe(true);
    // The same seed picks the same channels.
    const again = buildRetinaNet(cfg, new Rng(1));
    induceCollapse(again.backbone.params(), 18, { fraction: 0.5, gamma: 0.005, beta: -0.05, seed: 3 });
    expect(Array.from(again.backbone.params().find((p) => p.name === 'res3.1.bn1.gamma')!.variable.dataSync())).toEqual(gammaOf('res3.1.bn1.gamma'));
    // In inference mode (running mean 0, var 1 at init) a collapsed channel's ReLU input is 0.005 x - 0.05 < 0
    // unless its conv output x exceeds 10: on two random images every induced channel of the stem is dead.
    const images = [0, 1].map((s) => tf.tidy(() => tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', s) as tf.Tensor4D));
    const report = await measureCollapse(model, images);
    const stem = report.sites.find((s) => s.name === 'backbone.stem.relu')!;
    const induced = gammaOf('stem.bn.gamma').flatMap((g, c) => (g === Math.fround(0.005) ? [c] : []));
    for (const c of induced) expect(stem.deadChannels).toContain(c);
    expect(stem.paramCollapsed).toBe(4);
    model.dispose();
    again.dispose();
  });
});
