/**
 * Inference speed at 800 / 1333: psdet's RetinaNet R50-FPN (training model, and the folded deploy model) on the best
 * tfjs backend here, beside torchvision's retinanet_resnet50_fpn on the same CPU cores (PyTorch, 2 threads), in the
 * same run. Random weights on both sides (speed does not depend on them); one COCO val image, decode to
 * detections.
 *
 *   npx tsx bench/infer.ts [--image PATH] [--backend auto|wasm|cpu] [--min-size 800] [--max-size 1333]
 *                          [--repeats 1] [--warmup 0] [--deploy] [--skip-torch]
 *
 * Keep runs short: on 2 shared cores one 800 / 1333 pass of either side takes tens of seconds (minutes when the
 * cores are busy); `--min-size 512 --max-size 853` quarters that.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describeBackend, selectBackend } from '../src/backend/index.js';
import { defaultConfig } from '../src/config/defaults.js';
import type { BackendChoice } from '../src/config/types.js';
import { exportDeployModel } from '../src/export/export.js';
import { DeployRetinaNet } from '../src/export/runtime.js';
import { readTfjsDeployModel } from '../src/export/tfjs-format.js';
import { defaultCategories } from '../src/infer/coco-categories.js';
import { imagesToTensor, prepareImage, type Detector } from '../src/infer/run.js';
import { buildRetinaNet } from '../src/model/build.js';
import { moduleTensors } from '../src/train/checkpoint.js';
import { Rng } from '../src/util/rng.js';

const ROOT = join(import.meta.dirname, '..');

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const image = flag('--image', join(ROOT, '..', 'shared', 'data', 'coco-mini', 'images', 'val2017', '000000397133.jpg'));
const backendChoice = flag('--backend', 'auto') as BackendChoice;
const repeats = Number(flag('--repeats', '1'));
const warmups = Number(flag('--warmup', '0'));
const minSize = Number(flag('--min-size', '800'));
const maxSize = Number(flag('--max-size', '1333'));
const withDeploy = process.argv.includes('--deploy');
const skipTorch = process.argv.includes('--skip-torch');

if (!existsSync(image)) {
  console.error(`bench/infer: ${image} not found (pass --image PATH)`);
  process.exit(2);
}

interface Row {
  name: string;
  secondsPerImage: number;
}

async function timeDetector(name: string, detector: Detector, cfg: ReturnType<typeof defaultConfig>): Promise<Row> {
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    const prepared = await prepareImage({ path: image, imageId: 1 }, cfg.input);
    const input = imagesToTensor([prepared], cfg.input);
    await detector.detect(input, [[prepared.height, prepared.width]]);
    input.dispose();
    times.push((performance.now() - t0) / 1000);
  }
  return { name, secondsPerImage: times.reduce((a, b) => a + b, 0) / times.length };
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  const backend = await selectBackend(backendChoice);
  console.log(describeBackend(backend));
  const cfg = defaultConfig(); // R50-FPN, FrozenBN, 80 classes
  cfg.input.testMinSize = minSize;
  cfg.input.maxSize = maxSize;
  const model = buildRetinaNet(cfg.model, new Rng(0));
  const detector: Detector = model;

  for (let w = 0; w < warmups; w++) {
    const w0 = performance.now();
    await timeDetector('warm-up', detector, cfg);
    console.log(`warm-up pass: ${((performance.now() - w0) / 1000).toFixed(1)} s`);
  }
  const rows: Row[] = [await timeDetector(`psdet RetinaNet R50-FPN (${backend.name})`, detector, cfg)];

  if (withDeploy) {
    const dir = join(ROOT, '.bench', 'deploy-r50');
    await exportDeployModel(moduleTensors(model), cfg, defaultCategories(80), dir);
    const { spec, weights } = readTfjsDeployModel(dir);
    const deploy = new DeployRetinaNet(spec, weights);
    rows.push(await timeDetector(`psdet deploy, norms folded (${backend.name})`, deploy, cfg));
    deploy.dispose();
  }
  model.dispose();

  let torch: Row | null = null;
  if (!skipTorch) {
    const args = [join(ROOT, 'bench', 'infer_torchvision.py'), image, '--threads', '2', '--repeats', String(repeats)];
    args.push('--warmup', String(warmups), '--min-size', String(minSize), '--max-size', String(maxSize));
    const r = spawnSync('/usr/bin/python3', args, {
      encoding: 'utf8',
    });
    if (r.status !== 0) {
      console.error(`torchvision run failed: ${r.stderr.split('\n').slice(-3).join(' ')}`);
    } else {
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { images_per_s: number; input_size: number[] };
      torch = { name: `torchvision 0.14 retinanet_resnet50_fpn (PyTorch CPU, 2 threads)`, secondsPerImage: 1 / out.images_per_s };
      console.log(`torchvision input size ${out.input_size.join('x')}`);
    }
  }

  const all = torch === null ? rows : [...rows, torch];
  const width = Math.max(...all.map((r) => r.name.length));
  console.log(`\nRetinaNet R50-FPN inference, 1 image at ${minSize} / ${maxSize} (${image.split('/').pop()}), mean of ${repeats} pass(es), ${warmups} warm-up`);
  console.log(`${'engine'.padEnd(width)}  s/image  images/s  vs torchvision`);
  for (const r of all) {
    const ratio = torch === null ? '-' : `${(torch.secondsPerImage / r.secondsPerImage).toFixed(2)}x`;
    console.log(`${r.name.padEnd(width)}  ${r.secondsPerImage.toFixed(2).padStart(7)}  ${(1 / r.secondsPerImage).toFixed(3).padStart(8)}  ${ratio.padStart(14)}`);
  }
}

await main();
