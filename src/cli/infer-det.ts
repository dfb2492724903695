#!/usr/bin/env node
/**
 * infer-det: run a trained checkpoint (or an exported deploy model) over images; write COCO results JSON and the
 * images with their boxes drawn.
 *
 *   infer-det CHECKPOINT IMAGE_OR_DIR... --out DIR [--score 0.3] [--batch N] [--backend auto|wasm|cpu|...]
 *             [--config FILE] [--set key=value ...] [--no-draw]
 *
 * Bad input (missing checkpoint, incompatible config, unreadable image): one line on stderr, exit code 2.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Command, InvalidArgumentError } from 'commander';
import { selectBackend } from '../backend/index.js';
import type { BackendChoice } from '../config/types.js';
import { parseAssignments } from '../config/resolve.js';
import { listImages } from '../infer/inputs.js';
import { loadDetector, resolveModelSource } from '../infer/load.js';
import { ProgressBar } from '../infer/progress.js';
import { runInference } from '../infer/run.js';
import { InputError } from '../util/errors.js';
import { exitOnError } from './exit.js';

interface InferDetFlags {
  out: string;
  score: number;
  batch: number;
  backend: BackendChoice;
  config?: string;
  set: string[];
  draw: boolean;
  maxDets?: number;
}

function positiveInt(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a positive integer, got "${value}"`);
    return n;
  };
}

function unitInterval(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`--score must be a number in 0..1, got "${value}"`);
  return n;
}

const BACKENDS = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

async function main(argv: string[]): Promise<void> {
  const program = new Command('infer-det')
    .description('Detect objects in images with a psdet checkpoint or deploy model: COCO results JSON and drawn images')
    .argument('<checkpoint>', 'checkpoint directory (model_NNNNNNN, a checkpoints/ or work dir = its latest), or an exported deploy model directory')
    .argument('<images...>', 'image files or directories of images')
    .requiredOption('--out <dir>', 'output directory: results.json and one drawn image per input')
    .option('--score <threshold>', 'keep detections scoring at least this', unitInterval, 0.3)
    .option('--batch <n>', 'images per forward pass', positiveInt('--batch'), 1)
    .option('--backend <name>', `tfjs backend: ${BACKENDS.join(', ')}`, 'auto')
    .option('--config <file>', "model config (default: the run's config.json beside the checkpoint)")
    .option('--set <key=value>', 'override a config field (repeatable), e.g. --set input.testMinSize=512', (v: string, acc: string[]) => [...acc, v], [])
    .option('--no-draw', 'write results.json only')
    .option('--max-dets <n>', 'keep at most this many detections per image, the best-scoring ones (results and drawings)', positiveInt('--max-dets'))
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  program.parse(argv);
  const flags = program.opts<InferDetFlags>();
  const [checkpoint, images] = program.processedArgs as [string, string[]];
  if (!BACKENDS.includes(flags.backend)) throw new InputError(`--backend must be one of ${BACKENDS.join(', ')}, got "${flags.backend}"`);

  const inputs = listImages(images);
  // A missing checkpoint is reported before a backend is started (and before its start-up messages).
  resolveModelSource(checkpoint);
  // Production mode: no "install tfjs-node" banner from the cpu backend between our own lines.
  tf.env().set('PROD', true);
  const backend = await selectBackend(flags.backend);
  const loaded = await loadDetector(checkpoint, { configPath: flags.config ?? null, overrides: [parseAssignments(flags.set)] });
  try {
    console.error(`infer-det: ${loaded.description} on ${backend.name} (${backend.device}); ${inputs.length} image(s), batch ${flags.batch}`);
    const bar = new ProgressBar(inputs.length);
    const summary = await runInference(loaded.detector, inputs, {
      input: loaded.input,
      batchSize: flags.batch,
      scoreThreshold: flags.score,
      categories: loaded.categories,
      outDir: flags.out,
      draw: flags.draw,
      ...(flags.maxDets !== undefined ? { maxDetections: flags.maxDets } : {}),
      onProgress: (n) => bar.tick(n),
    });
    bar.finish();
    console.log(
      `${summary.results.length} detections (score >= ${flags.score}${flags.maxDets !== undefined ? `, at most ${flags.maxDets} per image` : ''}) on ${summary.images} image(s) in ` +
        `${summary.seconds.toFixed(1)} s (${(summary.images / summary.seconds).toFixed(2)} img/s); wrote ${flags.out}/results.json` +
        `${flags.draw ? ' and the drawn images' : ''}`,
    );
  } finally {
    loaded.dispose();
  }
}

main(process.argv).catch((err: unknown) => exitOnError('infer-det', err));
