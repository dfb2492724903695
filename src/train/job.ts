import { writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tf from '@tensorflow/tfjs-core';
import { collapseLogEntry, type CollapseLogEntry } from '../analysis/collapse-log.js';
import type { CollapseReport } from '../analysis/collapse.js';
import { measureCollapse } from '../analysis/measure.js';
import { probeBatches } from '../analysis/probe-set.js';
import { formatCollapseTable } from '../analysis/table.js';
import type { BackendInfo } from '../backend/index.js';
import type { Config } from '../config/types.js';
import { writeCategoryList } from '../data/categories.js';
import { CocoDataset, datasetSplitPaths, type Category } from '../data/coco.js';
import { DataLoader, loaderOptionsFromConfig, type BadImageWarning } from '../data/loader.js';
import { ensureShapesDataset } from '../data/shapes.js';
import { batchToTensor } from '../data/tensor.js';
import type { Batch } from '../data/types.js';
import { readGroundTruth } from '../eval/coco-json.js';
import { summaryLines } from '../eval/report.js';
import { buildRetinaNet } from '../model/build.js';
import { backboneNorms, formatNormBehaviour, normBehaviour } from '../model/resnet.js';
import type { RetinaNet } from '../model/retinanet.js';
import { RunReportWriter } from '../report/run-report.js';
import { InputError } from '../util/errors.js';
import { logProgress } from '../weights/download.js';
import { applyWeights, readWeightsSpec } from '../weights/load.js';
import { Rng } from '../util/rng.js';
import { loadModelWeights, resolveResume } from './checkpoint.js';
import { evaluateDetector, type EvaluationResult } from './evaluate.js';
import { Optimizer } from './optimizer.js';
import { formatDuration, Trainer } from './trainer.js';

/** Where the embedded shapes set is generated: `data/shapes` in the package. */
export const SHAPES_DIR = fileURLToPath(new URL('../../data/shapes', import.meta.url));

/** How a job talks to its caller (the CLI prints; a study may stay silent). */
export interface JobReporter {
  info(line: string): void;
  progress?(done: number, total: number, etaSeconds: number | null): void;
  /** Progress of a task other than training: 'evaluation' (val images), 'collapse probe' (probe images). */
  task?(label: string, done: number, total: number): void;
  /** The trainer exists: the CLI hooks SIGINT / SIGTERM to its `requestStop`. */
  trainerReady?(trainer: { requestStop(): void }): void;
}

export interface JobOptions {
  /** null = fresh start; 'auto' = newest checkpoint of the work dir (fresh when none); else a checkpoint path. */
  resume: string | null;
  evalOnly: boolean;
  reporter: JobReporter;
  backend: BackendInfo | null;
  /**
   * Fine-tuning: put these weights into the freshly built model before training (optimizer and iteration start
   * fresh). A checkpoint found by `resume` replaces them. `label` is logged.
   */
  initWeights?: { load: (model: RetinaNet, categories: readonly Category[]) => void; label: string };
}

export interface JobResult {
  /** COCO AP@[.5:.95] and AP50 of the final evaluation (0..1), null when not evaluated. */
  mAP: number | null;
  AP50: number | null;
  stats: Record<string, number> | null;
  iteration: number;
  stopped: boolean;
  lastCheckpoint: string | null;
  /** The last collapse statistics, null when none were measured. */
  collapse: CollapseReport | null;
  seconds: number;
}

/** The datasets, loaders and ground truth of a run. */
interface RunData {
  root: string;
  train: CocoDataset;
  val: CocoDataset;
  valAnnFile: string;
  trainAnnFile: string;
}

async function loadData(config: Config, needTrain: boolean): Promise<RunData> {
  const d = config.data;
  // --train-json/--train-images and --val-json/--val-images need no root; else the root (or the shapes set)
  const pairsOnly = d.valAnnotationFile !== null && (d.trainAnnotationFile !== null || !needTrain);
  const root = d.root ?? (pairsOnly ? null : await ensureShapesDataset(SHAPES_DIR));
  const trainPaths = datasetSplitPaths(d, 'train', root);
  const valPaths = datasetSplitPaths(d, 'val', root);
  const val = CocoDataset.load(valPaths.annotationFile, valPaths.imageDir, { forTraining: false, limit: d.valLimit });
  const train = needTrain
    ? CocoDataset.load(trainPaths.annotationFile, trainPaths.imageDir, { forTraining: true, skipEmpty: d.skipEmptyTrainImages, limit: d.trainLimit })
    : val;
  if (train.categories.length !== val.categories.length) {
    throw new InputError(`${valPaths.annotationFile}: has ${val.categories.length} categories but the training split ${trainPaths.annotationFile} has ${train.categories.length}`);
  }
  return { root: root ?? dirname(valPaths.annotationFile), train, val, valAnnFile: valPaths.annotationFile, trainAnnFile: trainPaths.annotationFile };
}

/**
 * The model's class count against the dataset's. Fine-tuning from other weights on a fresh run takes the count from
 * the dataset (the class layer is re-initialised or mapped by the weights loader), and says so; otherwise a
 * mismatch is an error naming the file and the flag that fixes it.
 * @returns the count the model is built with
 */
export function datasetClassCount(numClasses: number, categories: number, file: string, fineTuningFresh: boolean): number {
  if (categories === numClasses || fineTuningFresh) return categories;
  throw new InputError(`${file}: has ${categories} categories but model.numClasses is ${numClasses} (set it with --set model.numClasses=${categories})`);
}

/**
 * The whole `train-det` job: data (the embedded shapes set when `data.root` is null), model, optimizer, trainer
 * with evaluation and collapse hooks, resume, and the final report (COCO summary and collapse table per stage).
 */
export async function runTraining(config: Config, options: Partial<JobOptions> = {}): Promise<JobResult> {
  const start = performance.now();
  const reporter = options.reporter ?? { info: () => undefined };
  const evalOnly = options.evalOnly ?? false;
  const data = await loadData(config, !evalOnly);
  reporter.info(
    `data: ${data.root} (train ${config.data.trainSplit}: ${evalOnly ? '-' : data.train.images.length} images, val ${config.data.valSplit}: ${data.val.images.length} images)`,
  );
  const fineTuningFresh =
    !evalOnly && options.initWeights !== undefined && resolveResume(options.resume ?? 'auto', join(config.workDir, 'checkpoints')) === null;
  const numClasses = datasetClassCount(config.model.numClasses, data.train.categories.length, data.trainAnnFile, fineTuningFresh);
  if (numClasses !== config.model.numClasses) {
    reporter.info(`model.numClasses ${config.model.numClasses} -> ${numClasses}: the categories of ${data.trainAnnFile} (written to config.json)`);
    config.model.numClasses = numClasses;
    writeFileSync(join(config.workDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  }
  const gt = readGroundTruth(data.valAnnFile);
  const { pixelMean, pixelStd } = config.input;
  const toTensor = (batch: Batch): tf.Tensor4D => batchToTensor(batch, pixelMean, pixelStd);
  const model = buildRetinaNet(config.model, new Rng(config.seed));
  // what the layers will do, read back from them: the config's norm fields can say otherwise (e.g. normEval)
  reporter.info(formatNormBehaviour(normBehaviour(backboneNorms(model.backbone))));
  const pretrained = config.model.pretrainedBackbone;
  if (pretrained !== null && !evalOnly) {
    try {
      const read = await readWeightsSpec(pretrained, logProgress(pretrained, reporter.info));
      reporter.info(`backbone weights: ${read.label}: ${applyWeights(model, read, config.model, { scope: 'backbone' }).summary}`);
    } catch (err) {
      model.dispose();
      throw err;
    }
  }
  const optimizer = new Optimizer(model.params(), config.solver);
  const onWarning = (w: BadImageWarning): void => reporter.info(`warning: skipped unreadable image ${w.imageId}: ${w.message}`);
  const trainLoader = new DataLoader(data.train, { ...loaderOptionsFromConfig(config, true), onWarning });
  const valLoader = new DataLoader(data.val, { ...loaderOptionsFromConfig(config, false), onWarning });
  const workDir = config.workDir;
  // The class list beside config.json, so the run's checkpoints name their classes and COCO ids wherever they run.
  writeCategoryList(workDir, data.val.categories);
  let lastCollapse: CollapseReport | null = null;
  // Curves and report.html in the work dir, refreshed at each evaluation and at the end.
  const report = new RunReportWriter({
    workDir,
    categories: data.val.categories,
    valImages: data.val.images,
    onError: (message) => reporter.info(`warning: ${message}`),
  });

  const evaluate = async (iteration: number, tag = `iter${iteration}`): Promise<EvaluationResult> => {
    const r = await evaluateDetector(model, counted(valLoader.batches(), (b) => b.samples.length, 'evaluation', data.val.images.length), gt, {
      toTensor,
      categoryIdOf: (label) => data.val.labelToCategoryId(label),
      outDir: join(workDir, 'eval'),
      tag,
    });
    reporter.info(`evaluation (${tag}): ${r.images} images in ${r.seconds.toFixed(1)} s`);
    for (const line of summaryLines(r.result.params, r.result.stats)) reporter.info(line);
    if (iteration >= 0) await report.refresh({ iteration, stats: r.stats, perCategory: r.result.perCategory, detections: r.detections });
    return r;
  };
  const collapse = async (iteration: number): Promise<CollapseLogEntry> => {
    const probeImages = Math.min(config.collapse.probeImages, data.val.images.length);
    lastCollapse = await measureCollapse(model, counted(probeBatches(config, data.root), (t) => t.shape[0], 'collapse probe', probeImages), {
      deadThreshold: config.collapse.deadThreshold,
      gammaThreshold: config.collapse.gammaThreshold,
    });
    return collapseLogEntry(iteration, lastCollapse);
  };

  try {
    if (evalOnly) {
      const ckpt = resolveResume(options.resume ?? 'auto', join(workDir, 'checkpoints'));
      if (ckpt === null) throw new InputError(`${join(workDir, 'checkpoints')}: no checkpoint to evaluate (train first or pass --resume PATH)`);
      loadModelWeights(ckpt, model);
      reporter.info(`evaluating ${ckpt}`);
      const r = await evaluate(-1, basename(ckpt));
      await collapse(-1);
      const report = lastCollapse as CollapseReport | null;
      if (report !== null) reporter.info(formatCollapseTable(report, `collapsed filters per stage (${ckpt})`));
      reporter.info(mapLine(r.stats));
      return finish(r.stats, 0, false, ckpt, report);
    }

    const trainer = new Trainer<Batch>({
      model,
      optimizer,
      loader: {
        next: () => trainLoader.next(),
        state: () => trainLoader.state(),
        restore: (s) => trainLoader.restore(s as ReturnType<DataLoader['state']>),
      },
      prepare: toTensor,
      lossFn: (batch, images) => model.computeLosses(images as tf.Tensor4D, batch.samples),
      rng: new Rng(config.seed),
      solver: config.solver,
      train: config.train,
      workDir,
      hooks: {
        log: (line) => reporter.info(line),
        afterIteration: (it, max) => reporter.progress?.(it, max, null),
        evaluate: async (it) => (await evaluate(it)).stats,
        collapse: async (it) => {
          const { iteration: _, ...entry } = await collapse(it);
          return entry;
        },
        checkpointed: (path) => reporter.info(`checkpoint ${path}`),
      },
    });
    options.reporter?.trainerReady?.(trainer);
    if (options.initWeights !== undefined) {
      options.initWeights.load(model, data.train.categories);
      reporter.info(`initial weights: ${options.initWeights.label}`);
    }
    let startIteration = 0;
    if (options.resume !== null && options.resume !== undefined) {
      const ckpt = resolveResume(options.resume, trainer.checkpointsDir);
      if (ckpt === null) reporter.info(`--resume ${options.resume}: no checkpoint in ${trainer.checkpointsDir}, starting fresh`);
      else {
        startIteration = trainer.resume(ckpt).iteration;
        reporter.info(`resumed from ${ckpt} at iteration ${startIteration}`);
      }
    }
    // The starting point of the collapse curves: the weights before the first step (a cheap probe pass).
    if (startIteration === 0 && config.train.collapsePeriod > 0) await trainer.runCollapse(0);
    const result = await trainer.run();
    await report.refresh();
    if (result.stopped) return finish(null, result.iteration, true, result.lastCheckpoint, null);
    reporter.info(`training done: ${result.iteration} iterations in ${formatDuration((performance.now() - start) / 1000)}`);
    const skipped = trainLoader.badImageCount + valLoader.badImageCount;
    if (skipped > 0) reporter.info(`warning: ${skipped} unreadable image(s) skipped (--skip-bad-images)`);
    const finalCollapse = lastCollapse as CollapseReport | null;
    if (finalCollapse !== null) reporter.info(formatCollapseTable(finalCollapse, `collapsed filters per stage at iteration ${result.iteration}`));
    if (result.finalEval !== null) {
      reporter.info(mapLine(result.finalEval));
    }
    return finish(result.finalEval, result.iteration, false, result.lastCheckpoint, finalCollapse);
  } finally {
    optimizer.dispose();
    model.dispose();
    await Promise.all([trainLoader.close(), valLoader.close()]);
  }

  /** `items` as they are, telling the reporter how many of `total` went by. */
  async function* counted<T>(items: AsyncIterable<T>, size: (item: T) => number, label: string, total: number): AsyncGenerator<T> {
    let done = 0;
    reporter.task?.(label, 0, total);
    for await (const item of items) {
      yield item;
      done += size(item);
      reporter.task?.(label, Math.min(done, total), total);
    }
  }

  function mapLine(stats: Record<string, number>): string {
    return `mAP ${(stats.AP! * 100).toFixed(1)}  AP50 ${(stats.AP50! * 100).toFixed(1)}  (${config.data.valSplit}, ${data.val.images.length} images)`;
  }

  function finish(
    stats: Record<string, number> | null,
    iteration: number,
    stopped: boolean,
    lastCheckpoint: string | null,
    report: CollapseReport | null,
  ): JobResult {
    return {
      mAP: stats?.AP ?? null,
      AP50: stats?.AP50 ?? null,
      stats,
      iteration,
      stopped,
      lastCheckpoint,
      collapse: report,
      seconds: (performance.now() - start) / 1000,
    };
  }
}
