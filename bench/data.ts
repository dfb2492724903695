/**
 * Data pipeline throughput: decode + resize (800/1333, bilinear) + flip + normalise + pad, on coco-mini train.
 *
 *   npm run bench:data            (or: npx tsx bench/data.ts [--images N] [--backend cpu|wasm])
 *
 * The peer is a plain sharp pipeline measured in the same run: for each image, metadata, resize, flip, raw RGB,
 * then a JS loop normalising into a Float32Array (one image at a time, and four in flight; ratios are to the
 * four-in-flight peer, the fair comparison with a loader that keeps several decodes going). Ours is the DataLoader
 * (worker threads decode at the stored size and, given the normalisation, make the normalised and flipped floats;
 * prefetch) followed by batchToTensor for every batch: bilinear resize (torchvision-exact) and zero padding on the
 * tfjs backend. The loader-only row is what a GPU backend's CPU pays, the resize and padding running on the GPU.
 * Each variant runs in its own child process so that its peak memory (max RSS) is its own.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import { CocoDataset, cocoSplitPaths } from '../src/data/coco.js';
import { DataLoader } from '../src/data/loader.js';
import { batchToTensor } from '../src/data/tensor.js';
import { resizedSize } from '../src/data/transforms.js';

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

interface Result {
  name: string;
  images: number;
  seconds: number;
  imagesPerSecond: number;
  /** CPU time of the whole process (all threads) per image. */
  cpuMsPerImage: number;
  peakRssMiB: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

function cocoMini(): string | null {
  const dir = process.env.PSDET_COCO_MINI ?? join(fileURLToPath(new URL('../..', import.meta.url)), 'shared', 'data', 'coco-mini');
  try {
    CocoDataset.load(cocoSplitPaths(dir, 'train2017').annotationFile, cocoSplitPaths(dir, 'train2017').imageDir, { forTraining: true });
    return dir;
  } catch {
    return null;
  }
}

/** The peer: what one would write with sharp alone, normalising in JS. */
async function plainOne(path: string, flip: boolean): Promise<Float32Array> {
  const img = sharp(path);
  const meta = await img.metadata();
  const size = resizedSize(meta.height, meta.width, 800, 1333);
  let p = img.resize(size.width, size.height, { kernel: 'linear', fit: 'fill' });
  if (flip) p = p.flop();
  const { data } = await p.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i += 3) {
    out[i] = (data[i]! / 255 - MEAN[0]!) / STD[0]!;
    out[i + 1] = (data[i + 1]! / 255 - MEAN[1]!) / STD[1]!;
    out[i + 2] = (data[i + 2]! / 255 - MEAN[2]!) / STD[2]!;
  }
  return out;
}

interface Timing {
  seconds: number;
  /** CPU time of the whole process (every thread) over the timed part. */
  cpuMs: number;
}

function startTimer(): () => Timing {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  return () => {
    const c = process.cpuUsage(c0);
    return { seconds: (performance.now() - t0) / 1000, cpuMs: (c.user + c.system) / 1000 };
  };
}

async function runPlain(ds: CocoDataset, total: number, inFlight: number): Promise<Timing> {
  const paths = ds.images.map((im) => im.path);
  for (const p of paths.slice(0, 4)) await plainOne(p, false); // warm-up
  let next = 0;
  const stop = startTimer();
  const lane = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      await plainOne(paths[i % paths.length]!, i % 2 === 1);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return stop();
}

async function runOurs(ds: CocoDataset, total: number, workers: number, backend: string): Promise<Timing> {
  if (backend !== 'none') {
    if (backend === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
    else await import('@tensorflow/tfjs-backend-cpu');
    await tf.setBackend(backend);
    await tf.ready();
  }
  const batchSize = 2;
  const loader = new DataLoader(ds, {
    batchSize,
    seed: 0,
    minSizes: [800],
    maxSize: 1333,
    sizeDivisor: 32,
    flipProbability: 0.5,
    shuffle: true,
    aspectGrouping: true,
    prefetch: 4,
    workers,
    skipBadImages: false,
    normalise: { mean: MEAN, std: STD }, // the decoder threads make the normalised floats
  });
  const step = async (): Promise<number> => {
    const batch = await loader.next();
    // cpu and wasm run the kernels synchronously: when batchToTensor returns, the input is ready for the model.
    if (backend !== 'none') batchToTensor(batch, MEAN, STD).dispose();
    return batch.samples.length;
  };
  for (let i = 0; i < 3; i++) await step(); // warm-up: worker start, backend kernels
  let done = 0;
  const stop = startTimer();
  while (done < total) done += await step();
  const timing = stop();
  await loader.close();
  return timing;
}

async function child(variant: string): Promise<void> {
  const root = process.argv[process.argv.indexOf('--root') + 1]!;
  const total = Number(arg('images', '160'));
  const paths = cocoSplitPaths(root, 'train2017');
  const ds = CocoDataset.load(paths.annotationFile, paths.imageDir, { forTraining: true });
  let timing: Timing;
  let name: string;
  if (variant === 'plain1' || variant === 'plain4') {
    const n = variant === 'plain1' ? 1 : 4;
    timing = await runPlain(ds, total, n);
    name = `peer: plain sharp + JS normalise, ${n} in flight`;
  } else {
    const [, w, backend] = variant.split(':') as [string, string, string];
    timing = await runOurs(ds, total, Number(w), backend);
    const loader = `psdet: DataLoader ${w === '0' ? 'main thread' : `${w} workers`}`;
    name =
      backend === 'none'
        ? `${loader}, decode + normalise only (the loader: what a GPU backend's CPU pays)`
        : `${loader} + batchToTensor on ${backend} (normalise, flip, resize, pad)`;
  }
  const result: Result = {
    name,
    cpuMsPerImage: timing.cpuMs / total,
    images: total,
    seconds: timing.seconds,
    imagesPerSecond: total / timing.seconds,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

async function main(): Promise<void> {
  const variant = arg('variant', '');
  if (variant !== '') return child(variant);
  const root = cocoMini();
  if (root === null) {
    console.log('bench:data: coco-mini not found (set PSDET_COCO_MINI or place it at ../shared/data/coco-mini); nothing measured');
    return;
  }
  const images = arg('images', '160');
  const variants = ['plain1', 'plain4', 'ours:2:wasm', 'ours:0:wasm', 'ours:2:cpu', 'ours:2:none'];
  const load0 = os.loadavg()[0]!;
  const results: Result[] = [];
  for (const v of variants) {
    const run = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--variant', v, '--root', root, '--images', images], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    const line = run.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (line === undefined) {
      console.log(`variant ${v} failed:\n${run.stderr}`);
      continue;
    }
    results.push(JSON.parse(line.slice(7)) as Result);
  }
  // The fair peer: four images in flight, as the DataLoader keeps several decodes going at once (workers, prefetch).
  // The one-in-flight row is printed too, for what a sequential loop costs.
  const peer = results.find((r) => r.name.includes('4 in flight'));
  const cores = os.cpus().length;
  console.log(`\ncoco-mini train, ${images} images, shorter side 800 / longer at most 1333, flip p=0.5, batch 2 (ours)`);
  console.log(`${cores} cores, load average ${load0.toFixed(1)} before and ${os.loadavg()[0]!.toFixed(1)} after (other processes share the cores)\n`);
  console.log(`| pipeline | images/s | ratio to peer (4 in flight) | CPU ms / image | images/s on ${cores} idle cores (bound) | peak RSS MiB |`);
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    const ratio = peer ? (r.imagesPerSecond / peer.imagesPerSecond).toFixed(2) : '-';
    const bound = (cores * 1000) / r.cpuMsPerImage;
    console.log(`| ${r.name} | ${r.imagesPerSecond.toFixed(1)} | ${ratio} | ${r.cpuMsPerImage.toFixed(1)} | ${bound.toFixed(0)} | ${r.peakRssMiB.toFixed(0)} |`);
  }
  console.log('\nratio: images/s over the peer with four images in flight, measured in this run. The bound is cores x 1000 / CPU ms per image:');
  console.log('what the pipeline would deliver with every core to itself (it ignores waits, so it is an upper bound).');
}

await main();
