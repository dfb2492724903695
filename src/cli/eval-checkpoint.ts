/**
 * `eval-det --checkpoint CKPT --data DIR [--split val2017]`: runs a checkpoint (or an exported deploy model) over a
 * COCO split in batches, writes the results JSON, scores it with the psdet evaluator and prints the 12 COCO
 * stats, a per-category AP table and, for a training checkpoint, the collapsed-filter table.
 *
 *   eval-det --checkpoint work_dirs/x/checkpoints/model_0000500 --data ../shared/data/coco-mini [--split val2017]
 *            [--out DIR] [--batch N] [--limit N] [--backend auto|wasm|cpu] [--config FILE] [--set key=value ...] [--verbose]
 *   eval-det --weights torchvision:retinanet_resnet50_fpn_coco --data data/coco   (any --weights form of
 *            src/cli/weights.ts: a model built from --config, else torchvision's R50 1x recipe, classes from the data)
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Command, InvalidArgumentError } from 'commander';
import { measureCollapse } from '../analysis/measure.js';
import { formatCollapseTable } from '../analysis/table.js';
import { describeBackend, selectBackend } from '../backend/index.js';
import { defaultConfig } from '../config/defaults.js';
import type { BackendChoice, Config } from '../config/types.js';
import { parseAssignments } from '../config/resolve.js';
import { CocoDataset } from '../data/coco.js';
import { DataLoader, loaderOptionsFromConfig } from '../data/loader.js';
import { batchToTensor } from '../data/tensor.js';
import type { Batch } from '../data/types.js';
import { readGroundTruth } from '../eval/coco-json.js';
import { perCategoryTable, summaryLines } from '../eval/report.js';
import { checkpointConfig, loadDetector, resolveModelSource } from '../infer/load.js';
import { TaskProgress } from './progress.js';
import { evaluateDetector } from '../train/evaluate.js';
import { InputError } from '../util/errors.js';
import { prepareOutputDir } from './exit.js';
import { detectorFromWeights, isStateDictSpec, WEIGHTS_HELP } from './weights.js';

interface CheckpointEvalFlags {
  checkpoint?: string;
  weights?: string;
  data: string;
  split: string;
  out?: string;
  batch: number;
  limit: number;
  backend: BackendChoice;
  config?: string;
  set: string[];
  collapse: boolean;
  verbose: boolean;
}

function nonNegativeInt(flag: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${flag} must be an integer >= ${min}, got "${value}"`);
    return n;
  };
}

/** The split's annotation file and image directory: DIR/<split>/ or DIR/images/<split>/. */
export function splitPaths(root: string, split: string): { annotations: string; images: string } {
  const annotations = join(root, 'annotations', `instances_${split}.json`);
  if (!existsSync(annotations)) throw new InputError(`${annotations}: annotation file not found (--data ${root}, --split ${split})`);
  const images = [join(root, split), join(root, 'images', split)].find((d) => existsSync(d));
  if (images === undefined) throw new InputError(`${root}: no image directory ${split}/ or images/${split}/`);
  return { annotations, images };
}

/** A directory name for a weights spec: `torchvision:retinanet_resnet50_fpn_coco` -> `retinanet_resnet50_fpn_coco`. */
function weightsName(spec: string): string {
  return (spec.split(/[/:]/).filter((s) => s !== '').pop() ?? 'weights').replace(/\.(pth|pt|safetensors)$/, '').replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Runs the checkpoint mode. Bad input is thrown as InputError / CommanderError for the caller to print. */
export async function runCheckpointEval(argv: string[], onOutDir?: (dir: string) => void): Promise<void> {
  const program = new Command('eval-det')
    .description('Evaluate a checkpoint on a COCO split: results JSON, COCO stats, per-category AP, collapse table')
    .option('--checkpoint <path>', 'checkpoint directory (or checkpoints/ or work dir: its latest), or a deploy model directory')
    .option('--weights <spec>', `instead of --checkpoint: ${WEIGHTS_HELP} (config: --config, else torchvision's R50 1x recipe)`)
    .requiredOption('--data <dir>', 'COCO root: annotations/instances_<split>.json and <split>/ or images/<split>/')
    .option('--split <name>', 'split to evaluate', 'val2017')
    .option('--out <dir>', 'where results_<split>.json goes (default: the run\'s eval/ directory, else the checkpoint directory)')
    .option('--batch <n>', 'images per forward pass', nonNegativeInt('--batch', 1), 1)
    .option('--limit <n>', 'only the first N images of the split (0 = all)', nonNegativeInt('--limit', 0), 0)
    .option('--backend <name>', 'tfjs backend: auto, tensorflow, webgpu, wasm, cpu', 'auto')
    .option('--config <file>', "model config (default: the run's config.json beside the checkpoint)")
    .option('--set <key=value>', 'override a config field (repeatable)', (v: string, acc: string[]) => [...acc, v], [])
    .option('--no-collapse', 'skip the collapsed-filter table')
    .option('--verbose', 'also print what the GPU drivers wrote while the backend was chosen')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  program.parse(argv);
  const flags = program.opts<CheckpointEvalFlags>();

  const paths = splitPaths(flags.data, flags.split);
  if ((flags.checkpoint === undefined) === (flags.weights === undefined)) throw new InputError('give one of --checkpoint PATH and --weights SPEC');
  // --checkpoint takes the state dict forms too (a .pth / .safetensors file, torchvision:NAME, a URL).
  const weights = flags.weights ?? (isStateDictSpec(flags.checkpoint!) ? flags.checkpoint : undefined);
  const source = weights === undefined ? resolveModelSource(flags.checkpoint!) : { kind: 'weights' as const, dir: flags.out ?? join('work_dirs', `eval-${weightsName(weights)}`) };
  const overrides = [parseAssignments(flags.set)];
  const outDir = flags.out ?? (source.kind === 'checkpoint' ? join(source.dir, '..', '..', 'eval') : source.dir);
  // A results directory that cannot be written fails now, not after the whole split has been run.
  prepareOutputDir(outDir, flags.out !== undefined ? '--out' : 'results directory');
  onOutDir?.(outDir);
  tf.env().set('PROD', true);
  const backend = await selectBackend(flags.backend);
  if (flags.verbose) for (const line of backend.driverMessages) console.error(line);
  const dataset = CocoDataset.load(paths.annotations, paths.images, { forTraining: false, limit: flags.limit });
  const categories = { ids: dataset.categories.map((c) => c.id), names: dataset.categories.map((c) => c.name) };
  const loaded =
    weights === undefined
      ? await loadDetector(flags.checkpoint!, { configPath: flags.config ?? null, overrides })
      : await detectorFromWeights(weights, { configPath: flags.config ?? null, overrides, categories, command: 'eval-det' });
  try {
    const config: Config =
      'config' in loaded
        ? (loaded.config as Config)
        : source.kind === 'checkpoint'
          ? checkpointConfig(source.dir, flags.config ?? null, overrides).config
          : defaultConfig();
    config.input = loaded.input;
    config.data.valLimit = flags.limit;
    if (dataset.categories.length !== loaded.categories.ids.length) {
      throw new InputError(
        `${paths.annotations}: has ${dataset.categories.length} categories but the model has ${loaded.categories.ids.length} classes`,
      );
    }
    const gt = readGroundTruth(paths.annotations);
    const loader = new DataLoader(dataset, { ...loaderOptionsFromConfig(config, false), batchSize: flags.batch });
    const toTensor = (batch: Batch): tf.Tensor4D => batchToTensor(batch, config.input.pixelMean, config.input.pixelStd);
    console.log(`${describeBackend(backend)}`);
    console.log(`${loaded.description}`);
    console.log(`data: ${paths.annotations} (${dataset.images.length} images, batch ${flags.batch})`);
    const bar = new TaskProgress(dataset.images.length, 'evaluation');
    const counted = async function* (): AsyncGenerator<Batch> {
      for await (const batch of loader.batches()) {
        yield batch;
        bar.tick(batch.samples.length);
      }
    };
    let r;
    try {
      r = await evaluateDetector(loaded.detector, counted(), gt, {
        toTensor,
        categoryIdOf: (label) => dataset.labelToCategoryId(label),
        outDir,
        tag: flags.split,
      });
    } finally {
      bar.finish();
    }
    console.log(
      `${r.detections.length} detections on ${r.images} images in ${r.seconds.toFixed(1)} s (${(r.images / r.seconds).toFixed(2)} img/s); ` +
        `wrote ${join(outDir, `results_${flags.split}.json`)}`,
    );
    console.log(summaryLines(r.result.params, r.result.stats).join('\n'));
    console.log('');
    console.log('Per category (AP averaged over IoU .50:.95, area all, maxDets 100; - : no ground truth):');
    console.log(perCategoryTable(r.result.perCategory, gt.categoryNames));
    if (flags.collapse && loaded.model !== undefined) {
      const probeLoader = new DataLoader(dataset, { ...loaderOptionsFromConfig(config, false), batchSize: 1 });
      const probe = async function* (): AsyncGenerator<tf.Tensor4D> {
        let n = 0;
        for await (const batch of probeLoader.batches()) {
          if (n++ >= config.collapse.probeImages) return;
          yield toTensor(batch);
        }
      };
      const report = await measureCollapse(loaded.model, probe(), {
        deadThreshold: config.collapse.deadThreshold,
        gammaThreshold: config.collapse.gammaThreshold,
      });
      await probeLoader.close();
      console.log('');
      console.log(formatCollapseTable(report, `collapsed filters per stage (${source.dir}, ${config.collapse.probeImages} probe images)`));
    }
    await loader.close();
  } finally {
    loaded.dispose();
  }
}
