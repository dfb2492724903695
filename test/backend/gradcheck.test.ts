/**
 * Gradient checks of every op the detector differentiates, on cpu and wasm by default; $PSDET_BACKENDS
 * (comma-separated) names others, e.g. PSDET_BACKENDS=webgpu in .ci/webgpu (see test/helpers.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, usableBackends } from '../../src/backend/index.js';
import type { BackendChoice } from '../../src/config/types.js';
import { detectorCases } from './cases.js';
import { gradCheck } from './gradcheck.js';
import { map, randn } from './reference.js';
import { Rng } from '../../src/util/rng.js';
import { testBackends } from '../helpers.js';

type Name = Exclude<BackendChoice, 'auto'>;
const wanted = testBackends() as Name[];
const available = await usableBackends(wanted);
const missing = wanted.filter((b) => !available.includes(b));

describe.each(available)('gradient checks on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend as Name);
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  const tolerance = 1e-4;
  it.each(detectorCases().map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = tf.memory().numTensors;
    const result = await gradCheck(c);
    expect(result.forwardError, 'forward values against float64').toBeLessThan(c.tol ?? tolerance);
    result.gradErrors.forEach((e, i) => expect(e, `gradient of input ${i} against finite differences`).toBeLessThan(c.tol ?? tolerance));
    expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
  });

  it('catches a wrong gradient (the check can fail)', async () => {
    // relu whose custom gradient forgets the mask: forward right, gradient wrong where x < 0.
    const leakyGrad = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
      value: tf.relu(args[0] as tf.Tensor),
      gradFunc: (dy: tf.Tensor) => dy,
    }));
    const result = await gradCheck({
      name: 'relu with a wrong gradient',
      inputs: [randn(new Rng(3), [3, 4])],
      op: (x) => leakyGrad(x!) as tf.Tensor,
      ref: ([x]) => map(x!, (v) => Math.max(v, 0)),
    });
    expect(result.forwardError).toBeLessThan(1e-6);
    expect(result.gradErrors[0]).toBeGreaterThan(0.1);
  });
});

describe('backends', () => {
  it('every backend asked for (cpu and wasm unless PSDET_BACKENDS says otherwise) starts here', () => {
    expect(missing, 'backends named by PSDET_BACKENDS that cannot start: their gradient checks did not run').toEqual([]);
  });
});
