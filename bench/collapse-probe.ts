/**
 * Cost of collapse statistics per ReLU site: CollapseProbe.observe (per-channel max over N, H, W folded into a
 * running max, then read back) on one activation per stage of a ResNet-50 RetinaNet at 512 x 512, batch 2,
 * beside PyTorch doing the same reduction (a forward hook's amax) on the same machine in the same run.
 *
 *   npx tsx bench/collapse-probe.ts [--backend wasm|cpu] [--reps 5]
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { CollapseProbe } from '../src/analysis/collapse.js';
import type { Stage } from '../src/analysis/probe.js';
import { selectBackend } from '../src/backend/index.js';
import { formatTable } from '../src/analysis/table.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
};
const backend = flag('--backend', 'wasm') as 'wasm' | 'cpu';
const reps = Number(flag('--reps', '5'));

/** [N, H, W, C]: one ReLU input per stage, ResNet-50 at 512 x 512 (strides 2, 4, 8, 16, 32), batch 2. */
const SHAPES: Record<string, [number, number, number, number]> = {
  stem: [2, 256, 256, 64],
  res2: [2, 128, 128, 256],
  res3: [2, 64, 64, 512],
  res4: [2, 32, 32, 1024],
  res5: [2, 16, 16, 2048],
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const info = await selectBackend(backend);
const ours: Record<string, number> = {};
for (const [stage, shape] of Object.entries(SHAPES)) {
  const x = tf.randomNormal(shape) as tf.Tensor4D;
  const probe = new CollapseProbe();
  const times: number[] = [];
  for (let r = 0; r <= reps; r++) {
    const t0 = performance.now();
    tf.tidy(() => probe.observe({ stage: stage as Stage, name: stage }, x));
    probe.summarize();
    times.push(performance.now() - t0);
  }
  ours[stage] = median(times.slice(1));
  probe.dispose();
  x.dispose();
}

const script = join(dirname(fileURLToPath(import.meta.url)), 'collapse_probe_torch.py');
let peer: Record<string, number> = {};
let peerName = 'PyTorch (not available)';
try {
  const out = JSON.parse(execFileSync('/usr/bin/python3', [script, '2', String(reps), JSON.stringify(SHAPES)], { encoding: 'utf8' })) as {
    threads: number;
    torch: string;
    ms: Record<string, number>;
  };
  peer = out.ms;
  peerName = `PyTorch ${out.torch}, ${out.threads} threads`;
} catch (err) {
  console.error(`peer skipped: ${(err as Error).message.split('\n')[0]}`);
}

const rows = Object.entries(SHAPES).map(([stage, shape]) => {
  const p = peer[stage];
  return [
    stage,
    `[${shape.join(', ')}]`,
    ours[stage]!.toFixed(2),
    p === undefined ? '-' : p.toFixed(2),
    p === undefined ? '-' : (ours[stage]! / p).toFixed(1),
  ];
});
console.log(`collapse probe: per-channel running max + read-back, median of ${reps} (ms); ours on tfjs ${info.name} (${info.device}), peer ${peerName}`);
console.log(formatTable(['stage', 'shape [N, H, W, C]', 'psdet ms', 'peer ms', 'ratio'], rows));
