import * as tf from '@tensorflow/tfjs-core';
import type { NamedParam } from '../model/module.js';
import { Rng } from '../util/rng.js';

export interface InduceOptions {
  /** Share of the channels of every ReLU-feeding backbone norm to collapse (0..1). */
  fraction: number;
  /** gamma and beta given to a collapsed channel: small scale, negative shift (what decay leaves of a dead one). */
  gamma: number;
  beta: number;
  seed: number;
}

export const DEFAULT_INDUCE: Omit<InduceOptions, 'fraction'> = { gamma: 0.005, beta: -0.05, seed: 0 };

/**
 * A controlled start for the revival study: puts a seeded random `fraction` of the channels of every backbone norm
 * layer whose output feeds a ReLU directly (`stem.bn`, and in each residual block every norm but the last, whose
 * output goes into the sum) into the collapsed state |gamma| small, beta < 0. With gamma 0.005 and beta -0.05 the
 * norm output stays below 0 unless xhat > 10, so the channel is dead on any realistic probe, and no gradient reaches
 * it through the ReLU. Returns the number of channels set. `depth` 18/34 has two norms per block, 50/101 three.
 */
export function induceCollapse(params: readonly NamedParam[], depth: number, opts: InduceOptions): number {
  const lastNorm = depth >= 50 ? 'bn3' : 'bn2';
  const feedsRelu = (name: string): boolean => /(^|\.)stem\.bn\.(gamma|beta)$/.test(name) || (/\.bn\d\.(gamma|beta)$/.test(name) && !name.includes(`.${lastNorm}.`) && !name.includes('downsample'));
  const byLayer = new Map<string, { gamma?: NamedParam; beta?: NamedParam }>();
  for (const p of params) {
    if (p.kind !== 'norm' || !feedsRelu(p.name)) continue;
    const layer = p.name.slice(0, p.name.lastIndexOf('.'));
    const entry = byLayer.get(layer) ?? {};
    if (p.name.endsWith('.gamma')) entry.gamma = p;
    else entry.beta = p;
    byLayer.set(layer, entry);
  }
  const rng = new Rng(opts.seed);
  let count = 0;
  for (const [, { gamma, beta }] of [...byLayer.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    if (gamma === undefined || beta === undefined) continue;
    const channels = gamma.variable.size;
    const k = Math.round(opts.fraction * channels);
    // A seeded partial Fisher-Yates shuffle picks k distinct channels.
    const order = Array.from({ length: channels }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = i + rng.int(channels - i);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const chosen = new Set(order.slice(0, k));
    const g = gamma.variable.dataSync().slice();
    const b = beta.variable.dataSync().slice();
    for (const c of chosen) {
      g[c] = opts.gamma;
      b[c] = opts.beta;
    }
    tf.tidy(() => {
      gamma.variable.assign(tf.tensor1d(g));
      beta.variable.assign(tf.tensor1d(b));
    });
    count += k;
  }
  return count;
}
