/**
 * The gradient-check suite as a command, for backends the test run does not cover (a GPU, or WebGPU on a
 * software Vulkan driver in a separate CI step):
 *
 *   npm run gradcheck -- [--backends webgpu] [--tol 1e-4]
 *
 * Prints one line per op and backend with the forward and gradient errors (relative to float64 finite
 * differences) and exits 1 if any exceeds the tolerance or a backend asked for cannot start.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describeBackend, selectBackend } from '../src/backend/index.js';
import type { BackendChoice } from '../src/config/types.js';
import { detectorCases } from '../test/backend/cases.js';
import { gradCheck } from '../test/backend/gradcheck.js';

type Name = Exclude<BackendChoice, 'auto'>;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const backends = (arg('backends') ?? 'cpu,wasm,webgpu').split(',') as Name[];
  const tol = Number(arg('tol') ?? 1e-4);
  let failures = 0;
  for (const b of backends) {
    let info;
    try {
      info = await selectBackend(b);
    } catch (err) {
      console.log(`${b}: cannot start (${(err as Error).message})`);
      failures++;
      continue;
    }
    console.log(describeBackend(info));
    for (const c of detectorCases()) {
      const t0 = performance.now();
      const before = tf.memory().numTensors;
      try {
        const r = await gradCheck(c);
        const worst = Math.max(r.forwardError, ...r.gradErrors);
        const leaked = tf.memory().numTensors - before;
        const ok = worst < (c.tol ?? tol) && leaked === 0;
        if (!ok) failures++;
        const grads = r.gradErrors.map((e) => e.toExponential(1)).join(' ');
        const ms = (performance.now() - t0).toFixed(0);
        console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${c.name}: forward ${r.forwardError.toExponential(1)}, gradients ${grads}${leaked ? `, ${leaked} tensors leaked` : ''} (${ms} ms)`);
      } catch (err) {
        failures++;
        console.log(`  FAIL ${c.name}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  }
  console.log(failures === 0 ? 'all gradient checks passed' : `${failures} gradient checks failed`);
  return failures === 0 ? 0 : 1;
}

process.exitCode = await main();
