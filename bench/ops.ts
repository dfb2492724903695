/**
 * Engine benchmark: conv 3x3 256->256 at 64x64 batch 2 (forward, input gradient, filter gradient) in GFLOP/s,
 * and a ResNet-18 (src/model/resnet.ts, BN in training mode) forward + backward at 256 and 512 px batch 2, on each backend that starts here, beside
 * PyTorch (bench/torch_ops.py, /usr/bin/python3, 2 threads) measured in the same run.
 *
 *   npm run bench:ops -- [--backends wasm,cpu] [--reps 3] [--sizes 256,512] [--full] [--no-torch]
 *
 * cpu (pure JS) runs the conv passes once each and skips ResNet-18 unless --full (about a minute per step).
 * A CPU software WebGPU adapter (lavapipe) is benchmarked only when named in --backends.
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeBackend, removeRepairs, installRepairs, selectBackend, usableBackends } from '../src/backend/index.js';
import type { BackendChoice } from '../src/config/types.js';
import { ResNet } from '../src/model/resnet.js';
import { Rng } from '../src/util/rng.js';

type Name = Exclude<BackendChoice, 'auto'>;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const REPS = Number(arg('reps') ?? 3);
const SIZES = (arg('sizes') ?? '256,512').split(',').filter(Boolean).map(Number);
const FULL = flag('full');
const PYTHON = process.env.PSDET_PYTHON ?? '/usr/bin/python3';

// conv 3x3 256->256 at 64x64, batch 2: 2 * N * H * W * Cin * Cout * 9 FLOP per pass
const N = 2, H = 64, W = 64, C = 256;
const CONV_GFLOP = (2 * N * H * W * C * C * 9) / 1e9;

interface Row {
  what: string;
  backend: string;
  seconds: number | null;
  gflop?: number;
  note?: string;
}

async function medianSeconds(fn: () => Promise<void>, reps: number, warmup = true): Promise<number> {
  if (warmup) await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** Runs a kernel by name (the way backprop calls it) and waits for its output. */
async function runKernel(name: string, inputs: tf.NamedTensorMap, attrs: Record<string, unknown>): Promise<void> {
  const out = tf.engine().runKernel(name, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
  await out.data();
  out.dispose();
}

async function convRows(backend: string, reps: number, warmup: boolean): Promise<Row[]> {
  const x = tf.randomNormal([N, H, W, C]) as tf.Tensor4D;
  const w = tf.mul(tf.randomNormal([3, 3, C, C]), 0.02) as tf.Tensor4D;
  const dy = tf.randomNormal([N, H, W, C]) as tf.Tensor4D;
  const geometry = { strides: 1, pad: 'same', dataFormat: 'NHWC' };
  const rows: Row[] = [];
  const pass = async (what: string, fn: () => Promise<void>, r = reps, wu = warmup, note?: string) => {
    rows.push({ what, backend, seconds: await medianSeconds(fn, r, wu), gflop: CONV_GFLOP, ...(note ? { note } : {}) });
    console.error(`  ${backend} ${what}: ${rows[rows.length - 1]!.seconds!.toFixed(3)} s`);
  };
  await pass('conv forward', async () => {
    const y = tf.conv2d(x, w, 1, 'same');
    await y.data();
    y.dispose();
  });
  await pass('conv input grad', () => runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...geometry, inputShape: x.shape }));
  await pass('conv filter grad', () => runKernel('Conv2DBackpropFilter', { x, dy }, { ...geometry, filterShape: w.shape }));
  if (backend === 'wasm' && !flag('skip-own')) {
    removeRepairs('wasm');
    try {
      await pass('conv input grad', () => runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...geometry, inputShape: x.shape }), 1, false, "tfjs's own wasm kernel");
    } finally {
      installRepairs('wasm');
    }
  }
  tf.dispose([x, w, dy]);
  return rows;
}

/** One training step of the project's ResNet-18 body (BN in training mode): loss = sum(C5), all gradients. */
async function trainStep(model: ResNet, images: tf.Tensor4D): Promise<void> {
  const { value, grads } = tf.variableGrads(() => tf.sum(model.forward(images, { training: true }).c5) as tf.Scalar);
  const all = Object.values(grads);
  await Promise.all([value, ...all].map((t) => t.data()));
  tf.dispose([value, ...all]);
}

async function resnetRows(backend: string, reps: number): Promise<Row[]> {
  const rows: Row[] = [];
  const model = new ResNet({ depth: 18, widthMultiplier: 1, norm: { kind: 'bn', options: {} }, frozenStages: 0, rng: new Rng(0) });
  for (const size of SIZES) {
    const images = tf.randomNormal([2, size, size, 3]) as tf.Tensor4D;
    const seconds = await medianSeconds(() => trainStep(model, images), reps);
    rows.push({ what: `ResNet-18 fwd+bwd ${size}px b2`, backend, seconds });
    console.error(`  ${backend} ResNet-18 ${size}: ${seconds.toFixed(3)} s`);
    images.dispose();
  }
  model.dispose();
  return rows;
}

interface TorchResult {
  torch: string;
  threads: number;
  conv: { forward: number; input_grad: number; filter_grad: number };
  resnet18: Record<string, number>;
}

function runTorch(): TorchResult | string {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'torch_ops.py');
  const res = spawnSync(PYTHON, [script, '--threads', '2', '--reps', String(REPS), '--sizes', SIZES.join(',')], { encoding: 'utf8' });
  if (res.status !== 0) return `PyTorch peer failed: ${(res.stderr || String(res.error)).trim().split('\n').pop()}`;
  return JSON.parse(res.stdout.trim().split('\n').pop()!) as TorchResult;
}

function fmt(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined ? '-' : v.toFixed(digits);
}

async function main(): Promise<void> {
  const named = arg('backends')?.split(',') as Name[] | undefined;
  const backends = await usableBackends(named ?? ['tensorflow', 'webgpu', 'wasm', 'cpu']);
  const load = loadavg()[0]!.toFixed(1);
  console.error(`load average before: ${load}`);

  const torch = flag('no-torch') ? 'PyTorch peer skipped (--no-torch)' : runTorch();
  if (typeof torch !== 'string') console.error(`  PyTorch ${torch.torch}, ${torch.threads} threads: done`);

  const rows: Row[] = [];
  const devices: string[] = [];
  for (const b of backends) {
    const info = await selectBackend(b as Name);
    if (b === 'webgpu' && info.device.includes('software') && !named?.includes('webgpu')) continue;
    devices.push(describeBackend(info));
    const slow = b === 'cpu';
    rows.push(...(await convRows(b, slow ? 1 : REPS, !slow)));
    if (!slow || FULL) rows.push(...(await resnetRows(b, slow ? 1 : REPS)));
    else rows.push({ what: 'ResNet-18 fwd+bwd', backend: b, seconds: null, note: 'skipped (pure JS, about a minute per step; --full)' });
  }

  const peer = (what: string): number | null => {
    if (typeof torch === 'string') return null;
    if (what === 'conv forward') return torch.conv.forward;
    if (what === 'conv input grad') return torch.conv.input_grad;
    if (what === 'conv filter grad') return torch.conv.filter_grad;
    const m = /ResNet-18 fwd\+bwd (\d+)px/.exec(what);
    return m ? (torch.resnet18[m[1]!] ?? null) : null;
  };

  const lines = [
    '| pass | backend | ours s | ours GFLOP/s | PyTorch s | PyTorch GFLOP/s | ours / PyTorch time |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const p = peer(r.what);
    const g = (s: number | null) => (r.gflop !== undefined && s !== null ? fmt(r.gflop / s, 1) : '');
    const ratio = r.seconds !== null && p !== null ? `${fmt(r.seconds / p, 1)}x` : '-';
    lines.push(`| ${r.what}${r.note ? ` (${r.note})` : ''} | ${r.backend} | ${fmt(r.seconds)} | ${g(r.seconds)} | ${fmt(p)} | ${g(p)} | ${ratio} |`);
  }
  console.log(`# psdet bench:ops (medians of ${REPS}; conv 3x3 256->256 at 64x64 batch 2 = ${CONV_GFLOP.toFixed(2)} GFLOP per pass)`);
  for (const d of devices) console.log(`- ${d}`);
  console.log(typeof torch === 'string' ? `- ${torch}` : `- PyTorch ${torch.torch} on CPU, ${torch.threads} threads (${PYTHON})`);
  console.log(`- load average ${load} before, ${loadavg()[0]!.toFixed(1)} after (the machine is shared; figures move with it)`);
  console.log('');
  console.log(lines.join('\n'));
}

await main();
