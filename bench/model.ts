/**
 * Model benchmark: RetinaNet R50-FPN and R18-FPN (FrozenBN, stem frozen, P6 from P5, 80 classes) training step at
 * batch 2 and inference on 1 image, on the best backend that starts here, beside torchvision
 * (bench/model_peer.py, /usr/bin/python3, 2 threads) measured in the same run. Each step is split into backbone,
 * FPN, head and loss forward (timed with a read-back after each part) and backward (the rest of the step).
 *
 *   npm run bench:model -- [--size 512] [--models r50,r18] [--iters 1] [--warmup 1] [--backend auto] [--no-torch]
 *
 * `--warmup` iterations (default 1) precede the timed ones; medians are printed. On the pure-JS cpu backend a 512 px step takes
 * many minutes: use --size 256 there.
 *
 * Models run smallest first. A model that exhausts the wasm backend's 4 GiB heap (R50-FPN at 512 px) is skipped
 * with one line saying so, as is every larger one after it (a wasm module that ran out of heap is not reliable
 * again); the run still finishes and prints the rest beside torchvision.
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeBackend, selectBackend } from '../src/backend/index.js';
import { isWasmHeapExhausted, wasmHeapMessage } from '../src/backend/wasm-heap.js';
import { defaultConfig } from '../src/config/defaults.js';
import type { BackendChoice, ModelConfig, ResNetDepth } from '../src/config/types.js';
import { assignBatchTargets } from '../src/boxes/targets.js';
import { buildRetinaNet } from '../src/model/build.js';
import { retinanetLosses, targetTensors } from '../src/model/losses.js';
import type { RetinaNet } from '../src/model/retinanet.js';
import { Rng } from '../src/util/rng.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const SIZE = Number(arg('size') ?? 512);
const MODELS = (arg('models') ?? 'r50,r18').split(',').filter(Boolean);
const ITERS = Number(arg('iters') ?? 1);
const WARMUP = Number(arg('warmup') ?? 1);
const BACKEND = (arg('backend') ?? 'auto') as BackendChoice;
const NO_TORCH = process.argv.includes('--no-torch');
const PYTHON = process.env.PSDET_PYTHON ?? '/usr/bin/python3';
const PARTS = ['backbone', 'fpn', 'head', 'loss', 'backward', 'step', 'inference'] as const;
type Part = (typeof PARTS)[number];
type Timings = Record<Part, number>;

function config(depth: ResNetDepth): ModelConfig {
  return { ...defaultConfig().model, depth, norm: 'frozen_bn', frozenStages: 1, numClasses: 80 };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function settle(t: tf.Tensor | tf.Tensor[]): Promise<void> {
  for (const x of Array.isArray(t) ? t : [t]) await x.data();
}

async function measure(model: RetinaNet): Promise<Timings> {
  const x = tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 0) as tf.Tensor4D;
  const targets = [
    { boxes: Float32Array.from([40, 60, 200, 260, 300, 100, 480, 300]).map((v) => (v * SIZE) / 512), labels: Int32Array.from([1, 7]), crowdBoxes: new Float32Array(0) },
    { boxes: Float32Array.from([100, 100, 400, 420]).map((v) => (v * SIZE) / 512), labels: Int32Array.from([3]), crowdBoxes: new Float32Array(0) },
  ];
  const runs: Record<Part, number[]> = { backbone: [], fpn: [], head: [], loss: [], backward: [], step: [], inference: [] };
  const ctx = { training: true };
  for (let it = 1 - WARMUP; it <= ITERS; it++) {
    // Forward by parts (training mode), each read back so its time is its own.
    let t = performance.now();
    const c = model.backbone.forward(x, ctx);
    await settle([c.c3, c.c4, c.c5]);
    const backbone = performance.now() - t;
    t = performance.now();
    const features = model.fpn.forward(c, ctx);
    await settle(features);
    const fpn = performance.now() - t;
    t = performance.now();
    const head = model.head.forward(features, ctx);
    await settle([head.clsLogits, head.boxDeltas]);
    const headTime = performance.now() - t;
    // Loss on those outputs: anchors (cached after the warm-up), target assignment, focal + box losses.
    t = performance.now();
    const anchors = model.anchorsFor(SIZE, SIZE);
    const batch = assignBatchTargets(anchors, targets, model.settings);
    const tt = targetTensors(batch, anchors.length / 4);
    const losses = retinanetLosses(
      { clsLogits: head.clsLogits, boxDeltas: head.boxDeltas, clsTargets: tt.clsTargets, boxTargets: tt.boxTargets, numForeground: batch.numForeground },
      model.settings,
    );
    await settle([losses.lossCls, losses.lossBox]);
    const lossForward = performance.now() - t;
    tf.dispose([c.c3, c.c4, c.c5, ...features, head.clsLogits, head.boxDeltas, losses.lossCls, losses.lossBox, tt.clsTargets, tt.boxTargets, tt.matchedBoxes]);
    // The whole step: forward, losses and gradients of every trainable variable.
    t = performance.now();
    const { value, grads } = tf.variableGrads(() => {
      const l = model.computeLosses(x, targets);
      return tf.add(l.lossCls, l.lossBox) as tf.Scalar;
    }, model.trainableVariables());
    await settle(Object.values(grads));
    const step = performance.now() - t;
    tf.dispose([value, ...Object.values(grads)]);
    t = performance.now();
    const one = tf.slice(x, [0, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
    await model.detect(one, [[SIZE, SIZE]]);
    one.dispose();
    const inference = performance.now() - t;
    if (it <= 0) continue;
    runs.backbone.push(backbone / 1000);
    runs.fpn.push(fpn / 1000);
    runs.head.push(headTime / 1000);
    runs.loss.push(lossForward / 1000);
    runs.step.push(step / 1000);
    runs.backward.push(Math.max(0, step - backbone - fpn - headTime - lossForward) / 1000);
    runs.inference.push(inference / 1000);
  }
  x.dispose();
  return Object.fromEntries(PARTS.map((p) => [p, median(runs[p])])) as Timings;
}

function peer(): Record<string, Timings> | null {
  if (NO_TORCH) return null;
  const script = join(dirname(fileURLToPath(import.meta.url)), 'model_peer.py');
  const r = spawnSync(PYTHON, [script, '--size', String(SIZE), '--models', MODELS.join(','), '--iters', String(ITERS)], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`torchvision peer failed: ${(r.stderr || r.error?.message || '').split('\n').slice(-3).join(' ')}`);
    return null;
  }
  return JSON.parse(r.stdout) as Record<string, Timings>;
}

const info = await selectBackend(BACKEND);
console.log(`psdet bench:model, ${SIZE} x ${SIZE}, training step batch 2, inference 1 image, ${ITERS} timed iteration(s) after ${WARMUP} warm-up`);
console.log(describeBackend(info));
console.log(`load average at start: ${loadavg().map((v) => v.toFixed(1)).join(' ')} (2 cores; other work on the machine skews both columns)`);
const ours: Record<string, Timings> = {};
/** Why a model has no psdet timings, by model name. */
const skipped: Record<string, string> = {};
let exhaustedBy: string | null = null;
for (const name of [...MODELS].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))) {
  const label = `${name.toUpperCase()}-FPN`;
  if (exhaustedBy !== null) {
    skipped[name] = `${label} skipped: larger than ${exhaustedBy}, which already exhausted the wasm heap at ${SIZE} px`;
    console.log(skipped[name]);
    continue;
  }
  const model = buildRetinaNet(config(Number(name.slice(1)) as ResNetDepth), new Rng(0));
  try {
    ours[name] = await measure(model);
    model.dispose();
  } catch (err) {
    if (!isWasmHeapExhausted(err)) throw err;
    exhaustedBy = label;
    skipped[name] = `${label} at ${SIZE} px, batch 2 skipped: ${wasmHeapMessage()}`;
    console.log(skipped[name]);
  }
}
const theirs = peer();
const rows: string[][] = [['model', 'part', `psdet ${info.name} (s)`, 'torchvision 2 threads (s)', 'ratio psdet / torch']];
for (const name of MODELS) {
  for (const part of PARTS) {
    const a = ours[name]?.[part];
    const b = theirs?.[name]?.[part];
    const ratio = a === undefined || b === undefined ? '-' : (a / b).toFixed(2);
    const partName = part === 'step' ? 'training step (total)' : part === 'inference' ? 'inference, 1 image' : `${part}${part === 'backward' ? '' : ' (fwd)'}`;
    rows.push([name.toUpperCase() + '-FPN', partName, a === undefined ? 'skipped' : a.toFixed(3), b === undefined ? '-' : b.toFixed(3), ratio]);
  }
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const [i, r] of rows.entries()) {
  console.log(`| ${r.map((c, j) => c.padEnd(widths[j]!)).join(' | ')} |`);
  if (i === 0) console.log(`| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`);
}
for (const line of Object.values(skipped)) console.log(line);
console.log(`load average at end: ${loadavg().map((v) => v.toFixed(1)).join(' ')}`);
