import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { measureCollapse } from '../../src/analysis/measure.js';
import { shiftBetaForPsbn } from '../../src/analysis/psbn-shift.js';
import { defaultConfig } from '../../src/config/defaults.js';
import { buildRetinaNet } from '../../src/model/build.js';
import { Rng } from '../../src/util/rng.js';

describe('shiftBetaForPsbn', () => {
  it('makes a psBN model loaded with BN weights compute what the BN model computes, dead channels included', async () => {
    const cfg = { ...defaultConfig().model, depth: 18 as const, widthMultiplier: 0.125, fpnChannels: 16, headChannels: 16, headDepth: 1, numClasses: 2, frozenStages: 0 };
    const bn = buildRetinaNet({ ...cfg, norm: 'bn' }, new Rng(5));
    const psbn = buildRetinaNet({ ...cfg, norm: 'psbn', psbnAlpha: 0.1 }, new Rng(5));
    // Give the BN model some non-trivial betas (so that a few channels are dead), then copy every tensor across.
    const rng = new Rng(9);
    for (const p of bn.params()) {
      if (p.name.endsWith('.beta')) tf.tidy(() => p.variable.assign(tf.tensor1d(Array.from({ length: p.variable.size }, () => rng.normal() - 0.5))));
    }
    const byName = new Map(bn.params().map((p) => [p.name, p.variable]));
    for (const p of psbn.params()) p.variable.assign(byName.get(p.name)!);
    // 20 norm layers in ResNet-18 (stem 1, 8 blocks x 2, 3 downsample shortcuts); FPN and head have none.
    expect(shiftBetaForPsbn(psbn.params(), 0.1)).toBe(20);
    const image = () => [tf.tidy(() => tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 3) as tf.Tensor4D)];
    const a = await measureCollapse(bn, image());
    const b = await measureCollapse(psbn, image());
    expect(b.sites.map((s) => s.deadChannels)).toEqual(a.sites.map((s) => s.deadChannels));
    expect(a.total.dead).toBeGreaterThan(0);
    b.sites.forEach((s, i) => s.max.forEach((m, c) => expect(m).toBeCloseTo(a.sites[i]!.max[c]!, 4)));
    bn.dispose();
    psbn.dispose();
  });
});
