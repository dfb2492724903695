import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { CollapseProbe } from '../../src/analysis/collapse.js';
import { ROOT } from '../helpers.js';

interface Result {
  alpha: number;
  max: number[];
  dead: number[];
  paramCollapsed: number[];
}
interface Fixture {
  gammaThreshold: number;
  input_nchw: { shape: [number, number, number, number]; data: number[] };
  conv_oihw: { shape: [number, number, number, number]; data: number[] };
  bn: { gamma: number[]; beta: number[]; running_mean: number[]; running_var: number[]; eps: number };
  bn_result: Result;
  psbn_result: Result;
}

/** Made by tools/collapse_fixture.py: PyTorch conv -> BatchNorm2d (eval) [+ alpha] -> ReLU with a hook on the ReLU. */
const fixture = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'collapse-conv-bn-relu.json'), 'utf8')) as Fixture;

function probeConvBnRelu(alpha: number) {
  const probe = new CollapseProbe({ gammaThreshold: fixture.gammaThreshold });
  tf.tidy(() => {
    const images = tf.transpose(tf.tensor4d(fixture.input_nchw.data, fixture.input_nchw.shape), [0, 2, 3, 1]) as tf.Tensor4D; // NCHW -> NHWC
    const kernel = tf.transpose(tf.tensor4d(fixture.conv_oihw.data, fixture.conv_oihw.shape), [2, 3, 1, 0]) as tf.Tensor4D; // OIHW -> HWIO
    const { gamma, beta, running_mean: mean, running_var: variance, eps } = fixture.bn;
    const g = tf.tensor1d(gamma);
    const b = tf.tensor1d(beta);
    const scale = tf.div(g, tf.sqrt(tf.add(tf.tensor1d(variance), eps)));
    for (let i = 0; i < images.shape[0]; i++) {
      // One image per batch, as the probe runs.
      const x = tf.slice(images, [i, 0, 0, 0], [1, -1, -1, -1]);
      const y = tf.conv2d(x, kernel, 1, 'same');
      const normed = tf.add(tf.add(tf.mul(tf.sub(y, tf.tensor1d(mean)), scale), b), alpha) as tf.Tensor4D;
      probe.observe({ stage: 'stem', name: 'stem.relu' }, normed, { gamma: g, beta: b, alpha });
    }
  });
  const report = probe.summarize();
  probe.dispose();
  return report.sites[0]!;
}

describe('collapse statistics against PyTorch', () => {
  for (const [label, expected] of [['BN', fixture.bn_result], ['psBN (alpha 0.1)', fixture.psbn_result]] as const) {
    it(`${label}: dead and parameter-collapsed channels match a PyTorch ReLU hook`, () => {
      const site = probeConvBnRelu(expected.alpha);
      expect(site.deadChannels).toEqual(expected.dead);
      expect(site.paramCollapsed).toBe(expected.paramCollapsed.length);
      expect(site.normNonPositive).toBe(expected.dead.length);
      expect(site.images).toBe(3);
    });
  }

  it('the fixture exercises what it should: psBN revives channels with small gamma and -alpha < beta <= 0', () => {
    // Channels 1, 2, 3: |gamma| < 0.01 with beta -0.05, -0.08, -0.05: dead under BN, alive with alpha 0.1.
    expect(fixture.bn_result.dead).toEqual([0, 1, 2, 3, 4]);
    expect(fixture.psbn_result.dead).toEqual([0, 4]);
  });

  it('the fixture is clear of every threshold, so no decision hangs on float rounding', () => {
    // dead: max <= 0; parameter-collapsed: |gamma| < gammaThreshold and beta + alpha <= 0. The maxima agree to
    // ~1e-6 (next test); every value the decisions read is at least 1e-3 from its threshold.
    const { gamma, beta } = fixture.bn;
    for (const expected of [fixture.bn_result, fixture.psbn_result]) {
      for (const m of expected.max) expect(Math.abs(m)).toBeGreaterThan(1e-3);
      for (const b of beta) expect(Math.abs(b + expected.alpha)).toBeGreaterThan(1e-3);
    }
    for (const g of gamma) expect(Math.abs(Math.abs(g) - fixture.gammaThreshold)).toBeGreaterThan(1e-3);
  });

  it('per-channel maxima agree with PyTorch to float32 precision', () => {
    for (const expected of [fixture.bn_result, fixture.psbn_result]) {
      const site = probeConvBnRelu(expected.alpha);
      expect(site.max).toHaveLength(expected.max.length);
      site.max.forEach((m, c) => expect(m).toBeCloseTo(expected.max[c]!, 4));
    }
  });
});
