#!/usr/bin/env node
/**
 * infer-det: run a trained checkpoint (or an exported deploy model) over images; write COCO results JSON and the
 * images with their boxes drawn.
 *
 *   infer-det CHECKPOINT IMAGE_OR_DIR... --out DIR [--score 0.3] [--batch N] [--backend auto|wasm|cpu|...]
 *             [--config FILE] [--set key=value ...] [--no-draw] [--max-decode-pixels N] [--verbose]
 *
 * Bad input (missing checkpoint, incompatible config, an --out that cannot be written): one line on stderr, exit
 * code 2. Images that cannot be read are named one line each and left out; results.json holds the others (exit 2).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Command, InvalidArgumentError } from 'commander';
import { describeBackend, selectBackend } from '../backend/index.js';
import { DEFAULT_MAX_DECODE_PIXELS } from '../data/transforms.js';
import type { BackendChoice } from '../config/types.js';
import { parseAssignments } from '../config/resolve.js';
import { listImages } from '../infer/inputs.js';
import { loadDetector, resolveModelSource } from '../infer/load.js';
import { TaskProgress } from './progress.js';
import { runInference } from '../infer/run.js';
import { InputError } from '../util/errors.js';
import { exitOnError, prepareOutputDir } from './exit.js';
import { detectorFromWeights, isStateDictSpec, WEIGHTS_HELP } from './weights.js';
import { parseWeightsSpec } from '../weights/source.js';

interface InferDetFlags {
  out: string;
  score: number;
  batch: number;
  backend: BackendChoice;
  config?: string;
  set: string[];
  draw: boolean;
  maxDecodePixels: number;
  verbose: boolean;
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
    .argument('<checkpoint>', `checkpoint directory (model_NNNNNNN, a checkpoints/ or work dir = its latest), an exported deploy model directory, or ${WEIGHTS_HELP.replace('a psdet checkpoint, ', '')} (COCO's 80 classes)`)
    .argument('<images...>', 'image files or directories of images')
    .requiredOption('--out <dir>', 'output directory: results.json and one drawn image per input')
    .option('--score <threshold>', 'keep detections scoring at least this', unitInterval, 0.3)
    .option('--batch <n>', 'images per forward pass', positiveInt('--batch'), 1)
    .option('--backend <name>', `tfjs backend: ${BACKENDS.join(', ')}`, 'auto')
    .option('--config <file>', "model config (default: the run's config.json beside the checkpoint)")
    .option('--set <key=value>', 'override a config field (repeatable), e.g. --set input.testMinSize=512', (v: string, acc: string[]) => [...acc, v], [])
    .option('--no-draw', 'write results.json only')
    .option(
      '--max-decode-pixels <n>',
      'images of more pixels are shrunk to the network size while decoding, not decoded at full size',
      positiveInt('--max-decode-pixels'),
      DEFAULT_MAX_DECODE_PIXELS,
    )
    .option('--verbose', 'also print what the GPU drivers wrote while the backend was chosen')
    .option('--max-dets <n>', 'keep at most this many detections per image, the best-scoring ones (results and drawings)', positiveInt('--max-dets'))
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  program.parse(argv);
  const flags = program.opts<InferDetFlags>();
  const [checkpoint, images] = program.processedArgs as [string, string[]];
  if (!BACKENDS.includes(flags.backend)) throw new InputError(`--backend must be one of ${BACKENDS.join(', ')}, got "${flags.backend}"`);

  const inputs = listImages(images);
  // A missing checkpoint or an output directory that cannot be written is reported before a backend is started.
  const stateDict = isStateDictSpec(checkpoint);
  if (stateDict) parseWeightsSpec(checkpoint);
  else resolveModelSource(checkpoint);
  outDir = flags.out;
  prepareOutputDir(flags.out);
  // Production mode: no "install tfjs-node" banner from the cpu backend between our own lines.
  tf.env().set('PROD', true);
  const backend = await selectBackend(flags.backend);
  if (flags.verbose) for (const line of backend.driverMessages) console.error(line);
  const loadOptions = { configPath: flags.config ?? null, overrides: [parseAssignments(flags.set)] };
  const loaded = stateDict
    ? await detectorFromWeights(checkpoint, { ...loadOptions, categories: null, command: 'infer-det' })
    : await loadDetector(checkpoint, loadOptions);
  try {
    console.error(`infer-det: ${describeBackend(backend)}`);
    console.error(`infer-det: ${loaded.description}; ${inputs.length} image(s), batch ${flags.batch}`);
    const bar = new TaskProgress(inputs.length, 'images');
    const summary = await runInference(loaded.detector, inputs, {
      input: loaded.input,
      batchSize: flags.batch,
      scoreThreshold: flags.score,
      categories: loaded.categories,
      outDir: flags.out,
      draw: flags.draw,
      decode: { maxDecodePixels: flags.maxDecodePixels },
      ...(flags.maxDets !== undefined ? { maxDetections: flags.maxDets } : {}),
      onProgress: (n) => bar.tick(n),
    });
    bar.finish();
    const rate = summary.seconds > 0 ? ` (${(summary.images / summary.seconds).toFixed(2)} img/s)` : '';
    console.log(
      `${summary.results.length} detections (score >= ${flags.score}${flags.maxDets !== undefined ? `, at most ${flags.maxDets} per image` : ''}) on ${summary.images} image(s) in ` +
        `${summary.seconds.toFixed(1)} s${rate}; wrote ${flags.out}/results.json${flags.draw && summary.images > 0 ? ' and the drawn images' : ''}`,
    );
    // The images that could not be read: one line each, and exit code 2 (the others' results are written).
    for (const failure of summary.failures) console.error(`infer-det: ${failure.message}`);
    if (summary.failures.length > 0) {
      console.error(
        summary.images === 0
          ? `infer-det: none of the ${inputs.length} image(s) could be read; results.json is empty`
          : `infer-det: ${summary.failures.length} of ${inputs.length} image(s) could not be read; results.json holds the other ${summary.images}`,
      );
      process.exitCode = 2;
    }
  } finally {
    loaded.dispose();
  }
}

/** The --out directory, once known: named when a write fails without a path (a full disk). */
let outDir: string | undefined;

main(process.argv).catch((err: unknown) => exitOnError('infer-det', err, outDir));
