#!/usr/bin/env node
/**
 * study-det: collapsed-filter statistics of a checkpoint, grid studies and the revival study.
 *
 *   study-det collapse CHECKPOINT [--config FILE] [--data DIR] [--probe-images N] [--json OUT]
 *   study-det grid --out DIR [--config FILE] --norms bn,psbn --lrs 0.01,0.05 --optimizers sgd,adam --frozen 0
 *   study-det revive CHECKPOINT --out DIR [--config FILE] [--norms psbn,bn] [--checkpoint-norm bn]
 *
 * CHECKPOINT: a psdet checkpoint directory (checkpoints/model_NNNNNNN), a run's work dir or checkpoints/ dir (its
 * newest checkpoint), a torchvision state dict (`.pth` or `.safetensors`, torchvision:NAME or an http(s) URL: a
 * whole RetinaNet, or an ImageNet ResNet: then only the backbone stages are measured). Bad input: one line on stderr, exit code 2.
 */
import { appendFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CommanderError } from 'commander';
import type { CollapseReport } from '../analysis/collapse.js';
import { measureCollapse } from '../analysis/measure.js';
import { dataRoot, probeBatches } from '../analysis/probe-set.js';
import { DEFAULT_INDUCE, induceCollapse } from '../analysis/induce-collapse.js';
import { shiftBetaForPsbn } from '../analysis/psbn-shift.js';
import type { FineTune, MeasureCollapse, RunTraining } from '../analysis/study.js';
import { describeBackend, selectBackend } from '../backend/index.js';
import { NORM_KINDS, type Config, type NormKind } from '../config/types.js';
import { buildRetinaNet } from '../model/build.js';
import { resolveModelSource } from '../infer/load.js';
import type { RetinaNet } from '../model/retinanet.js';
import { latestCheckpoint, loadModelWeights, resolveResume } from '../train/checkpoint.js';
import { runTraining, type JobReporter } from '../train/job.js';
import { TrainingFailedError } from '../train/trainer.js';
import { InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { fetchWeights } from '../weights/source.js';
import { readWeightsFile } from '../weights/state-dict.js';
import { loadTorchvisionWeights } from '../weights/torchvision.js';
import { oneLineError } from './exit.js';
import { ProgressBar } from './progress.js';
import { downloadProgress } from './weights.js';
import { studyProgram } from './study-det-program.js';

/** How the weights of a checkpoint reached the model: which parts hold trained values. */
type Loaded = 'psdet' | 'torchvision-retinanet' | 'torchvision-resnet';

/** Local files of the torchvision:NAME / URL checkpoints fetched so far (see prefetch). */
const fetched = new Map<string, string>();

/** Downloads (or finds in the cache) a torchvision:NAME or URL checkpoint, so that loadWeights can stay synchronous. */
async function prefetch(checkpoint: string): Promise<void> {
  if (fetched.has(checkpoint) || !(checkpoint.startsWith('torchvision:') || /^https?:\/\//i.test(checkpoint))) return;
  fetched.set(checkpoint, (await fetchWeights(checkpoint, downloadProgress('study-det'))).path);
}

/** Loads CHECKPOINT (see the header) into `model`. */
function loadWeights(model: RetinaNet, spec: string): Loaded {
  let checkpoint = fetched.get(spec) ?? spec;
  if (!existsSync(checkpoint)) throw new InputError(`${checkpoint}: checkpoint not found`);
  // checkpoints/last: the pointer file naming the run's newest checkpoint
  if (statSync(checkpoint).isFile() && basename(checkpoint) === 'last') checkpoint = resolveModelSource(checkpoint).dir;
  if (statSync(checkpoint).isFile()) {
    const weights = readWeightsFile(checkpoint);
    if ([...weights.tensors.keys()].some((k) => k.startsWith('backbone.body.'))) {
      loadTorchvisionWeights(model, weights, 'retinanet', { file: checkpoint });
      return 'torchvision-retinanet';
    }
    loadTorchvisionWeights(model.backbone, weights, 'resnet', { file: checkpoint });
    return 'torchvision-resnet';
  }
  const dir = existsSync(join(checkpoint, 'model.safetensors')) ? checkpoint : resolveResume(checkpoint, join(checkpoint, 'checkpoints'));
  if (dir === null) throw new InputError(`${checkpoint}: holds no checkpoint`);
  loadModelWeights(dir, model);
  return 'psdet';
}

/** The probe images as they go by, with a `collapse probe [###...]` bar on a terminal (stderr). */
async function* withProbeBar(batches: AsyncIterable<tf.Tensor4D>, total: number): AsyncGenerator<tf.Tensor4D> {
  const bar = process.stderr.isTTY ? new ProgressBar(process.stderr) : null;
  let done = 0;
  try {
    for await (const images of batches) {
      yield images;
      done += images.shape[0];
      bar?.update(Math.min(done, total), total, null, 'collapse probe');
    }
  } finally {
    bar?.clear();
  }
}

/**
 * The collapse report of `checkpoint` in a model built from `config`, on config's probe set. `shiftFromBn`: the
 * weights come from a BN model and config's norm is psBN, so beta is shifted by -alpha (same function at start).
 */
async function measureCheckpoint(config: Config, checkpoint: string, shiftFromBn: boolean, afterLoad?: (model: RetinaNet) => void): Promise<CollapseReport> {
  const model = buildRetinaNet(config.model, new Rng(config.seed));
  try {
    const loaded = loadWeights(model, checkpoint);
    afterLoad?.(model);
    if (shiftFromBn && config.model.norm === 'psbn') shiftBetaForPsbn(model.backbone.params(), config.model.psbnAlpha);
    const thresholds = { deadThreshold: config.collapse.deadThreshold, gammaThreshold: config.collapse.gammaThreshold };
    const batches = withProbeBar(probeBatches(config, await dataRoot(config)), config.collapse.probeImages);
    if (loaded === 'torchvision-resnet') {
      // FPN and head would be random: measure the ImageNet backbone alone.
      const backbone = { forward: (images: tf.Tensor4D, opts: Parameters<RetinaNet['forward']>[1]) => model.backbone.forward(images, opts, 'backbone') };
      return await measureCollapse(backbone, batches, thresholds);
    }
    return await measureCollapse(model, batches, thresholds);
  } finally {
    model.dispose();
  }
}

function reporterFor(config: Config, print: (line: string) => void): JobReporter {
  mkdirSync(config.workDir, { recursive: true });
  const log = join(config.workDir, 'log.txt');
  return {
    info: (line) => {
      appendFileSync(log, `${line}\n`);
      print(`  ${line}`);
    },
  };
}

async function main(argv: string[]): Promise<number> {
  const print = (text: string): void => {
    process.stdout.write(`${text}\n`);
  };
  let backendChosen = false;
  // --verbose: the GPU drivers' own messages from choosing the backend are printed too.
  let verbose = false;
  const ensureBackend = async (config: Config): Promise<void> => {
    if (backendChosen) return;
    const info = await selectBackend(config.backend).catch((err: Error) => {
      throw new InputError(`backend "${config.backend}": ${err.message}`);
    });
    if (verbose) for (const line of info.driverMessages) process.stderr.write(`${line}\n`);
    print(describeBackend(info));
    backendChosen = true;
  };
  // Set by `revive --checkpoint-norm`: the norm the start checkpoint was trained with.
  let checkpointNorm: NormKind = 'bn';
  let startCheckpoint: string | null = null;
  // Set by `revive --induce-collapse`: applied to the start checkpoint's weights wherever they are loaded.
  let induce: number | null = null;
  const induceAt = (model: RetinaNet, config: Config, checkpoint: string): void => {
    if (induce === null || checkpoint !== startCheckpoint) return;
    const n = induceCollapse(model.backbone.params(), config.model.depth, { ...DEFAULT_INDUCE, fraction: induce });
    print(`[revive] induced collapse: ${n} channels set to gamma ${DEFAULT_INDUCE.gamma}, beta ${DEFAULT_INDUCE.beta}`);
  };

  const measure: MeasureCollapse = async (config, checkpoint) => {
    await ensureBackend(config);
    await prefetch(checkpoint);
    const shift = startCheckpoint !== null && checkpoint === startCheckpoint && checkpointNorm !== 'psbn';
    return measureCheckpoint(config, checkpoint, shift, (model) => induceAt(model, config, checkpoint));
  };
  const train: RunTraining = async (config) => {
    await ensureBackend(config);
    try {
      const result = await runTraining(config, { resume: 'auto', reporter: reporterFor(config, print) });
      if (result.stopped) throw new Error(`${config.workDir}: training stopped before the end`);
      return { mAP: result.mAP };
    } catch (err) {
      // A large learning rate may diverge: that is a result of the study, not a reason to stop it.
      if (err instanceof TrainingFailedError) return { mAP: null, failure: err.message.split('\n')[0]! };
      throw err;
    }
  };
  const fineTune: FineTune = async (config, checkpoint) => {
    await ensureBackend(config);
    await prefetch(checkpoint);
    const shift = checkpointNorm !== 'psbn' && config.model.norm === 'psbn';
    const result = await runTraining(config, {
      resume: 'auto',
      reporter: reporterFor(config, print),
      initWeights: {
        load: (model) => {
          loadWeights(model, checkpoint);
          induceAt(model, config, checkpoint);
          if (shift) shiftBetaForPsbn(model.backbone.params(), config.model.psbnAlpha);
        },
        label: `${checkpoint}${shift ? ` (beta shifted by -${config.model.psbnAlpha} for psBN)` : ''}`,
      },
    });
    const last = result.lastCheckpoint ?? latestCheckpoint(join(config.workDir, 'checkpoints'));
    if (result.stopped || last === null) throw new Error(`${config.workDir}: fine-tuning stopped before the end`);
    return { mAP: result.mAP, checkpoint: last };
  };

  const program = studyProgram({ measure, runTraining: train, fineTune, print });
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.hook('preAction', (_cmd, action) => {
    verbose = action.opts<{ verbose?: boolean }>().verbose === true;
    if (action.name() === 'revive') {
      startCheckpoint = action.args[0] ?? null;
      const norm = action.opts<{ checkpointNorm?: string }>().checkpointNorm ?? 'bn';
      if (!(NORM_KINDS as readonly string[]).includes(norm)) throw new InputError(`--checkpoint-norm: "${norm}" is not one of ${NORM_KINDS.join(', ')}`);
      checkpointNorm = norm as NormKind;
      induce = action.opts<{ induceCollapse?: number }>().induceCollapse ?? null;
      if (induce !== null && !(induce > 0 && induce <= 1)) throw new InputError(`--induce-collapse: ${induce} must be in (0, 1]`);
    }
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    // Bad input and a bad environment (a read-only or full disk, the wasm heap exhausted): one line, exit 2.
    const line = oneLineError(err);
    if (line !== null) {
      process.stderr.write(`study-det: ${line}\n`);
      return 2;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
