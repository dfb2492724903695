/**
 * Training-step benchmark: iteration time split into data wait, forward + backward and optimizer, for the tiny
 * shapes config and the R50 recipe (at a reduced size, a couple of iterations), on the best backend here, beside
 * torchvision's time for the same model, size, batch, solver (optimizer, weight-decay groups, learning-rate schedule,
 * gradient clipping) and number of iterations, measured in the same run (bench/train_peer.py). Also:
 * peak resident memory, peak tfjs tensor memory, and whether the tensor count stays flat across the iterations.
 *
 *   npm run bench:train [-- --iters 50 --r50-iters 2 --r50-size 256 --backend auto]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, describeBackend } from '../src/backend/index.js';
import { resolveConfig } from '../src/config/resolve.js';
import type { BackendChoice, Config } from '../src/config/types.js';
import { CocoDataset, cocoSplitPaths } from '../src/data/coco.js';
import { DataLoader, loaderOptionsFromConfig } from '../src/data/loader.js';
import { ensureShapesDataset } from '../src/data/shapes.js';
import { batchToTensor } from '../src/data/tensor.js';
import type { Batch } from '../src/data/types.js';
import { buildRetinaNet } from '../src/model/build.js';
import { Optimizer } from '../src/train/optimizer.js';
import { Trainer, type IterationRecord } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

interface Measured {
  name: string;
  iters: number;
  size: number;
  batch: number;
  data: number;
  forwardBackward: number;
  optimizer: number;
  total: number;
  peakRssMiB: number;
  peakTensorMiB: number;
  tensorsFlat: boolean;
  tensorCounts: [number, number];
  /** Our optimizer, as the peer's line names it. */
  solver: string;
  peer: { forwardBackward: number; optimizer: number; solver: string } | null;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function measure(name: string, config: Config, iters: number, peerVariant: 'tiny' | 'r50'): Promise<Measured> {
  const root = await ensureShapesDataset(join(import.meta.dirname, '..', 'data', 'shapes'));
  const { annotationFile, imageDir } = cocoSplitPaths(root, config.data.trainSplit);
  const dataset = CocoDataset.load(annotationFile, imageDir, { forTraining: true });
  const loader = new DataLoader(dataset, loaderOptionsFromConfig(config, true));
  const model = buildRetinaNet(config.model, new Rng(0));
  const optimizer = new Optimizer(model.params(), config.solver);
  const workDir = mkdtempSync(join(tmpdir(), 'psdet-bench-train-'));
  const solver = { ...config.solver, maxIter: iters + 1 };
  const records: IterationRecord[] = [];
  const counts: number[] = [];
  let peakRss = 0;
  let peakTensorBytes = 0;
  const trainer = new Trainer<Batch>({
    model,
    optimizer,
    loader: { next: () => loader.next(), state: () => loader.state(), restore: (s) => loader.restore(s as never) },
    prepare: (batch) => batchToTensor(batch, config.input.pixelMean, config.input.pixelStd),
    lossFn: (batch, images) => model.computeLosses(images as tf.Tensor4D, batch.samples),
    rng: new Rng(0),
    solver,
    train: { ...config.train, logPeriod: 1, checkpointPeriod: 0, keepCheckpoints: 1, evalPeriod: 0, collapsePeriod: 0, explosionFactor: 0 },
    workDir,
    hooks: {
      log: (_line, r) => records.push(r),
      afterIteration: () => {
        const mem = tf.memory();
        counts.push(mem.numTensors);
        peakTensorBytes = Math.max(peakTensorBytes, mem.numBytes);
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      },
    },
  });
  process.stderr.write(`${name}: ${iters + 1} iterations (the first warms up)...\n`);
  await trainer.run();
  optimizer.dispose();
  model.dispose();
  await loader.close();
  rmSync(workDir, { recursive: true, force: true });
  const steady = records.slice(1);
  const size = config.input.trainMinSizes[0]!;
  const batch = config.solver.batchSize;
  process.stderr.write(`${name}: torchvision peer...\n`);
  let peer: Measured['peer'] = null;
  try {
    // The same solver (optimizer, decay groups, schedule, clipping) and the same number of iterations as ours.
    const peerArgs = [peerVariant, String(size), String(batch), String(iters), String(config.model.numClasses), JSON.stringify(solver)];
    const out = execFileSync('/usr/bin/python3', [join(import.meta.dirname, 'train_peer.py'), ...peerArgs], {
      encoding: 'utf8',
      timeout: 1_800_000,
    });
    const line = JSON.parse(out.trim().split('\n').at(-1)!) as { forwardBackward: number; optimizerTime: number; optimizer: string; clipGradNorm: number; iters: number };
    const clip = line.clipGradNorm > 0 ? `, clip ${line.clipGradNorm}` : '';
    peer = { forwardBackward: line.forwardBackward, optimizer: line.optimizerTime, solver: `torch.optim.${line.optimizer}${clip}, ${line.iters} iterations` };
  } catch (err) {
    process.stderr.write(`peer unavailable: ${(err as Error).message.split('\n')[0]}\n`);
  }
  return {
    name,
    iters,
    size,
    batch,
    data: median(steady.map((r) => r.dataTime)),
    forwardBackward: median(steady.map((r) => r.forwardBackwardTime)),
    optimizer: median(steady.map((r) => r.optimizerTime)),
    total: median(steady.map((r) => r.time)),
    peakRssMiB: peakRss / 2 ** 20,
    peakTensorMiB: peakTensorBytes / 2 ** 20,
    tensorsFlat: new Set(counts.slice(1)).size === 1,
    tensorCounts: [counts[1] ?? 0, counts.at(-1) ?? 0],
    solver: `${solver.optimizer}${solver.clipGradNorm > 0 ? `, clip ${solver.clipGradNorm}` : ''}`,
    peer,
  };
}

const backend = await selectBackend(arg('backend', 'auto') as BackendChoice);
const iters = Number(arg('iters', '50'));
const r50Iters = Number(arg('r50-iters', '2'));
const r50Size = Number(arg('r50-size', '256'));
const models = join(import.meta.dirname, '..', 'models');
const tiny = resolveConfig(join(models, 'retinanet_r18_tiny_shapes.json'));
const r50 = resolveConfig(join(models, 'retinanet_r50_fpn_1x_coco.json'), [
  {
    model: { pretrainedBackbone: null, numClasses: 3 },
    input: { trainMinSizes: [r50Size], maxSize: r50Size },
    solver: { batchSize: 2 },
  },
]);
const rows = [await measure('tiny (R18/4, 128 px)', tiny, iters, 'tiny')];
if (r50Iters > 0) rows.push(await measure(`R50-FPN (${r50Size} px)`, r50, r50Iters, 'r50'));

const f = (x: number): string => x.toFixed(3);
const ratio = (ours: number, peer: number | undefined): string => (peer === undefined ? '-' : `${(ours / peer).toFixed(1)}x`);
console.log(`\n${describeBackend(backend)}; ${tf.version_core}; median over the steady iterations (seconds per iteration)\n`);
console.log('| config | batch | iters | data wait | fwd+bwd (ours) | fwd+bwd (torchvision) | ratio | optimizer (ours) | optimizer (torchvision) | ratio | total | peak RSS | peak tensors | tensor count flat |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  console.log(
    `| ${r.name} | ${r.batch} | ${r.iters} | ${f(r.data)} | ${f(r.forwardBackward)} | ${r.peer ? f(r.peer.forwardBackward) : '-'} | ${ratio(r.forwardBackward, r.peer?.forwardBackward)} | ` +
      `${f(r.optimizer)} | ${r.peer ? f(r.peer.optimizer) : '-'} | ${ratio(r.optimizer, r.peer?.optimizer)} | ${f(r.total)} | ${Math.round(r.peakRssMiB)} MiB | ` +
      `${Math.round(r.peakTensorMiB)} MiB | ${r.tensorsFlat ? 'yes' : 'NO'} (${r.tensorCounts[0]} -> ${r.tensorCounts[1]}) |`,
  );
}
console.log('');
for (const r of rows) {
  console.log(`${r.name}: ours ${r.solver}, ${r.iters} iterations; torchvision ${r.peer ? r.peer.solver : 'not measured'} (same solver, schedule and iteration count)`);
}

