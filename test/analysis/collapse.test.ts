import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { CollapseProbe, compareDead } from '../../src/analysis/collapse.js';
import type { NormView } from '../../src/analysis/probe.js';

/**
 * A hand-built norm layer in training mode: per-channel batch statistics over N, H, W (biased variance, epsilon 0 so
 * the arithmetic in the comments is exact), then y = gamma * xhat + beta + alpha. Returns the ReLU input and the view.
 */
function normLayer(x: tf.Tensor4D, gamma: number[], beta: number[], alpha = 0): { y: tf.Tensor4D; view: NormView } {
  const g = tf.tensor1d(gamma);
  const b = tf.tensor1d(beta);
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const xhat = tf.div(tf.sub(x, mean), tf.sqrt(variance));
  const y = tf.add(tf.add(tf.mul(xhat, g), b), alpha) as tf.Tensor4D;
  return { y, view: { gamma: g, beta: b, alpha } };
}

/** One image 2x2 with C channels, channel c of pixel p = values[p][c]. */
function image(values: number[][]): tf.Tensor4D {
  return tf.tensor4d(values.flat(), [1, 2, 2, values[0]!.length]);
}

describe('CollapseProbe on a hand-built norm layer', () => {
  it('counts a channel negative everywhere as dead and one that fires once as alive', () => {
    // Both channels see x = 1, 2, 3, 4: mean 2.5, biased variance 1.25, so
    // xhat = (x - 2.5) / sqrt(1.25) = -1.342, -0.447, 0.447, 1.342.
    // Channel 0: gamma 1, beta -2   -> max 1.342 - 2   = -0.658 <= 0 everywhere: dead.
    // Channel 1: gamma 1, beta -1.3 -> max 1.342 - 1.3 = +0.042 at x = 4 only:   fires once, alive.
    const probe = new CollapseProbe();
    tf.tidy(() => {
      const { y, view } = normLayer(image([[1, 1], [2, 2], [3, 3], [4, 4]]), [1, 1], [-2, -1.3]);
      probe.observe({ stage: 'stem', name: 'stem.relu' }, y, view);
    });
    const report = probe.summarize();
    const site = report.sites[0]!;
    expect(site.channels).toBe(2);
    expect(site.deadChannels).toEqual([0]);
    expect(site.dead).toBe(1);
    expect(site.normNonPositive).toBe(1);
    expect(report.stages[0]).toMatchObject({ stage: 'stem', channels: 2, dead: 1, deadRatio: 0.5 });
    probe.dispose();
  });

  it('accumulates the max over every image of the probe: dead after one batch, alive once another fires', () => {
    const probe = new CollapseProbe();
    const site = { stage: 'res2' as const, name: 'backbone.res2.0.relu1' };
    // Batch 1: channel 0 is -1 everywhere; channel 1 is +0.5 somewhere.
    tf.tidy(() => probe.observe(site, image([[-1, 0.5], [-1, -1], [-1, -1], [-1, -1]])));
    expect(probe.summarize().sites[0]!.deadChannels).toEqual([0]);
    // Batch 2: channel 0 fires at one pixel of one image (+1e-3); channel 1 is negative here, but it fired before.
    tf.tidy(() => probe.observe(site, image([[-1, -1], [-1, -1], [1e-3, -1], [-1, -1]])));
    const after = probe.summarize();
    expect(after.sites[0]!.deadChannels).toEqual([]);
    expect(after.sites[0]!.images).toBe(2);
    expect(after.images).toBe(2);
    // Without a norm view the parameter figures do not apply.
    expect(after.sites[0]!.normFed).toBe(false);
    expect(after.stages[0]!.paramCollapsedRatio).toBeNull();
    probe.dispose();
  });

  it("lets psBN's alpha enter the parameter view", () => {
    // gamma 0.005 (< gammaThreshold 0.01) and beta -0.05 on x = 1, 2, 3, 4 (xhat max 1.342):
    //   BN   (alpha 0):   beta + alpha = -0.05 <= 0 -> parameter-collapsed; max y = 0.0067 - 0.05 = -0.043 <= 0.
    //   psBN (alpha 0.1): beta + alpha = +0.05 > 0  -> not collapsed;         max y = 0.0067 + 0.05 = +0.057 > 0.
    const run = (alpha: number) => {
      const probe = new CollapseProbe({ gammaThreshold: 0.01 });
      tf.tidy(() => {
        const { y, view } = normLayer(image([[1], [2], [3], [4]]), [0.005], [-0.05], alpha);
        probe.observe({ stage: 'res3', name: 'backbone.res3.0.relu1' }, y, view);
      });
      const report = probe.summarize();
      probe.dispose();
      return report;
    };
    const bn = run(0);
    expect(bn.sites[0]).toMatchObject({ paramCollapsed: 1, normNonPositive: 1, dead: 1, alpha: 0 });
    expect(bn.stages[0]!.paramCollapsedRatio).toBe(1);
    const psbn = run(0.1);
    expect(psbn.sites[0]).toMatchObject({ paramCollapsed: 0, normNonPositive: 0, dead: 0, alpha: 0.1 });
    expect(psbn.stages[0]!.paramCollapsedRatio).toBe(0);
  });

  it('needs both |gamma| below the threshold and beta + alpha <= 0 for the parameter view', () => {
    // Channel 0: gamma 0.5 (large), beta -5  -> dead but not parameter-collapsed.
    // Channel 1: gamma 0.001,       beta +0.1 -> alive, not collapsed (beta > 0).
    // Channel 2: gamma -0.001,      beta 0    -> |gamma| small and beta + alpha = 0 <= 0: collapsed.
    //   Its max y = 0.001 * 1.342 = +0.0013 > 0 (negative gamma flips xhat), so it is not dead: the views differ.
    const probe = new CollapseProbe({ gammaThreshold: 0.01 });
    tf.tidy(() => {
      const x = image([[1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]]);
      const { y, view } = normLayer(x, [0.5, 0.001, -0.001], [-5, 0.1, 0]);
      probe.observe({ stage: 'res4', name: 'backbone.res4.0.relu1' }, y, view);
    });
    const site = probe.summarize().sites[0]!;
    expect(site.deadChannels).toEqual([0]);
    expect(site.paramCollapsed).toBe(1);
    expect(site.normNonPositive).toBe(1);
    probe.dispose();
  });

  it('groups sites by stage in STAGES order, with ratios and the thresholds beside every figure', () => {
    const thresholds = { deadThreshold: 0.125, gammaThreshold: 0.05 };
    const probe = new CollapseProbe(thresholds);
    tf.tidy(() => {
      // Observed out of order on purpose: the report follows STAGES (stem, res2, ..., head-box).
      // res2.a: 4 channels, maxima 0.0625, 0.125, 0.25, -3 (exact in float32) -> dead with deadThreshold 0.125
      // (max <= threshold): channels 0, 1, 3 (3 of 4).
      probe.observe({ stage: 'res2', name: 'res2.a' }, tf.tensor4d([0.0625, 0.125, 0.25, -3], [1, 1, 1, 4]));
      // stem: 2 channels, norm-fed: ReLU input maxima -1, 2; gamma (0.01, 1), beta (-1, -1).
      const stemView: NormView = { gamma: tf.tensor1d([0.01, 1]), beta: tf.tensor1d([-1, -1]), alpha: 0 };
      probe.observe({ stage: 'stem', name: 'stem.relu' }, tf.tensor4d([-1, 2], [1, 1, 1, 2]), stemView);
      // res2.b: 2 channels, maxima 1, 1: alive.
      probe.observe({ stage: 'res2', name: 'res2.b' }, tf.tensor4d([1, 1], [1, 1, 1, 2]));
    });
    const report = probe.summarize();
    expect(report.stages.map((s) => s.stage)).toEqual(['stem', 'res2']);
    // stem: channel 0 max -1 dead; gamma 0.01 < 0.05 and beta -1 <= 0: collapsed. Channel 1: max 2, gamma 1.
    expect(report.stages[0]).toMatchObject({ sites: 1, channels: 2, dead: 1, deadRatio: 0.5, normChannels: 2 });
    expect(report.stages[0]).toMatchObject({ paramCollapsed: 1, paramCollapsedRatio: 0.5, normNonPositiveRatio: 0.5 });
    // res2: 3 dead of 4 + 2 = 6 channels -> 0.5; no norm-fed site -> parameter ratios null.
    expect(report.stages[1]).toMatchObject({ sites: 2, channels: 6, dead: 3, deadRatio: 0.5, normChannels: 0 });
    expect(report.stages[1]!.paramCollapsedRatio).toBeNull();
    // total: 4 dead of 8 channels; parameter view over the 2 norm-fed channels only.
    expect(report.total).toMatchObject({ stage: 'total', channels: 8, dead: 4, deadRatio: 0.5, paramCollapsedRatio: 0.5 });
    for (const row of [...report.stages, report.total]) expect(row.thresholds).toEqual(thresholds);
    expect(report.thresholds).toEqual(thresholds);
    probe.dispose();
  });

  it('keeps no activations: only [C] accumulators live between batches, and dispose frees them', () => {
    const before = tf.memory().numTensors;
    const probe = new CollapseProbe();
    // tidy frees the initial values; variables survive it.
    const gamma = tf.tidy(() => tf.variable(tf.tensor1d([1, 1, 1])));
    const beta = tf.tidy(() => tf.variable(tf.tensor1d([0, 0, 0])));
    const withVars = tf.memory().numTensors;
    for (let step = 0; step < 3; step++) {
      tf.tidy(() => {
        const x = tf.randomNormal([2, 8, 8, 3]) as tf.Tensor4D;
        probe.observe({ stage: 'res5', name: 'a' }, tf.relu(x) as tf.Tensor4D, { gamma, beta, alpha: 0 });
        probe.observe({ stage: 'fpn', name: 'b' }, x);
      });
      // Site a: max + gamma + beta copies; site b: max. Nothing else survives the tidy.
      expect(tf.memory().numTensors).toBe(withVars + 4);
    }
    probe.summarize();
    expect(tf.memory().numTensors).toBe(withVars + 4);
    probe.dispose();
    gamma.dispose();
    beta.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects a site whose channel count changes between batches', () => {
    const probe = new CollapseProbe();
    tf.tidy(() => probe.observe({ stage: 'stem', name: 's' }, tf.zeros([1, 2, 2, 3]) as tf.Tensor4D));
    expect(() => tf.tidy(() => probe.observe({ stage: 'stem', name: 's' }, tf.zeros([1, 2, 2, 4]) as tf.Tensor4D))).toThrow(
      /site s had 3 channels, now 4/,
    );
    probe.dispose();
  });
});

describe('compareDead', () => {
  it('counts per stage the channels dead at the start that are alive at the end', () => {
    const summarize = (rows: Array<[string, 'res2' | 'res3', number[]]>) => {
      const probe = new CollapseProbe();
      tf.tidy(() => {
        for (const [name, stage, maxima] of rows) probe.observe({ stage, name }, tf.tensor4d(maxima, [1, 1, 1, maxima.length]));
      });
      const report = probe.summarize();
      probe.dispose();
      return report;
    };
    // res2.a before: dead 0, 1, 2; after: dead 2, 3 -> revived 0 and 1 (2), newly dead 3 (1).
    // res3.a before: dead 0; after: dead 0 -> revived 0.
    const before = summarize([['res2.a', 'res2', [-1, -1, -1, 1]], ['res3.a', 'res3', [-1, 1]]]);
    const after = summarize([['res2.a', 'res2', [1, 1, -1, -1]], ['res3.a', 'res3', [-1, 1]]]);
    const rows = compareDead(before, after);
    expect(rows.map((r) => r.stage)).toEqual(['res2', 'res3', 'total']);
    expect(rows[0]).toMatchObject({ channels: 4, deadBefore: 3, deadAfter: 2, revived: 2, newlyDead: 1 });
    expect(rows[0]!.revivedRatio).toBeCloseTo(2 / 3, 12);
    expect(rows[1]).toMatchObject({ deadBefore: 1, deadAfter: 1, revived: 0, revivedRatio: 0 });
    expect(rows[2]).toMatchObject({ channels: 6, deadBefore: 4, deadAfter: 3, revived: 2, newlyDead: 1 });
  });
});

describe('measureCollapse', () => {
  it('runs the model in inference mode over every batch and leaves no tensor behind', async () => {
    const { measureCollapse } = await import('../../src/analysis/measure.js');
    // A two-site toy model: site "a" sees the image's channel 0 minus 1 and channel 1 (norm-fed, alpha 0.1),
    // site "b" sees the negated image's channel 2.
    const modes: boolean[] = [];
    const gamma = tf.tidy(() => tf.variable(tf.tensor1d([1, 0.001])));
    const beta = tf.tidy(() => tf.variable(tf.tensor1d([-1, -0.2])));
    const model = {
      forward(images: tf.Tensor4D, opts: { training: boolean; probe?: import('../../src/analysis/probe.js').ActivationProbe }) {
        modes.push(opts.training);
        const [c0, c1, c2] = tf.split(images, 3, 3) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
        opts.probe?.observe({ stage: 'res2', name: 'a' }, tf.concat([tf.sub(c0, 1), c1], 3) as tf.Tensor4D, { gamma, beta, alpha: 0.1 });
        opts.probe?.observe({ stage: 'res3', name: 'b' }, tf.neg(c2) as tf.Tensor4D);
        return { out: tf.relu(images) };
      },
    };
    const before = tf.memory().numTensors;
    // Image 1: all pixels (0.5, -1, 2); image 2: one pixel with channel 0 = 1.5, channel 2 = -0.25.
    // Site a: max(c0 - 1) = 0.5 > 0 -> alive; max(c1) = -1 -> dead. c1: |gamma| 0.001 < 0.01 but beta + alpha =
    // -0.1 <= 0 -> parameter-collapsed. Site b: max(-c2) = 0.25 > 0 -> alive.
    const batches = [
      tf.tensor4d([0.5, -1, 2, 0.5, -1, 2, 0.5, -1, 2, 0.5, -1, 2], [1, 2, 2, 3]),
      tf.tensor4d([1.5, -1, -0.25], [1, 1, 1, 3]),
    ];
    const report = await measureCollapse(model, batches, { gammaThreshold: 0.01 });
    expect(modes).toEqual([false, false]);
    expect(report.images).toBe(2);
    expect(report.sites.map((s) => [s.name, s.deadChannels, s.paramCollapsed])).toEqual([['a', [1], 1], ['b', [], 0]]);
    expect(batches.every((b) => b.isDisposed)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    gamma.dispose();
    beta.dispose();
  });
});
