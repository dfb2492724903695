import * as tf from '@tensorflow/tfjs-core';
import type { NamedParam } from '../model/module.js';

/**
 * After loading a BN checkpoint into a psBN model, makes the psBN model compute the same function:
 * gamma * xhat + (beta - alpha) + alpha = gamma * xhat + beta. Every norm `beta` parameter (kind 'norm', name ending
 * in `.beta`) is shifted by -alpha in place. Returns how many were shifted.
 *
 * The revival study needs this: without the shift psBN would add alpha to every channel at the first step and
 * "revive" channels whose max lay in (-alpha, 0] by construction, not by training. With it the start is identical
 * to BN's, and only weight decay (pulling beta towards 0, so the output towards alpha) can bring channels back.
 */
export function shiftBetaForPsbn(params: readonly NamedParam[], alpha: number): number {
  let shifted = 0;
  for (const p of params) {
    if (p.kind !== 'norm' || !p.name.endsWith('.beta')) continue;
    tf.tidy(() => p.variable.assign(tf.sub(p.variable, alpha)));
    shifted++;
  }
  return shifted;
}
