import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Config, InputConfig } from '../config/types.js';
import { defaultConfig } from '../config/defaults.js';
import { resolveConfig } from '../config/resolve.js';
import { DeployRetinaNet } from '../export/runtime.js';
import { readTfjsDeployModel } from '../export/tfjs-format.js';
import { buildRetinaNet } from '../model/build.js';
import type { RetinaNet } from '../model/retinanet.js';
import { loadModelWeights } from '../train/checkpoint.js';
import { readCategoryList, type CategoryList } from '../data/categories.js';
import { InputError } from '../util/errors.js';
import { defaultCategories } from './coco-categories.js';
import type { Detector } from './run.js';

/** What infer-det and eval-det --checkpoint run: a detector with what it needs around it. */
export interface LoadedDetector {
  detector: Detector;
  /** One line for the log: which checkpoint, which model. */
  description: string;
  input: InputConfig;
  categories: { ids: number[]; names: string[] };
  /** The training model, when a training checkpoint was loaded (for the collapse statistics). */
  model?: RetinaNet;
  dispose(): void;
}

/** Where a model's weights and config live. */
export type ModelSource =
  | { kind: 'checkpoint'; dir: string; weights: string }
  | { kind: 'deploy'; dir: string; modelJson: string };

const CHECKPOINT_RE = /^model_\d{7,}$/;

/**
 * Finds the weights a CHECKPOINT argument names: an exported deploy model (a directory with model.json), a
 * checkpoint directory (with model.safetensors), or a checkpoints directory or work directory, meaning the checkpoint
 * `last` points to (else the newest). Anything else is an InputError naming the path.
 */
export function resolveModelSource(path: string): ModelSource {
  if (!existsSync(path)) throw new InputError(`${path}: checkpoint not found`);
  if (statSync(path).isFile() && basename(path) === 'last') {
    // checkpoints/last: the pointer file naming the newest checkpoint beside it.
    const latest = latestIn(dirname(path));
    if (latest !== null) return { kind: 'checkpoint', dir: latest, weights: join(latest, 'model.safetensors') };
  }
  if (!statSync(path).isDirectory()) {
    throw new InputError(`${path}: expected a checkpoint directory (model_NNNNNNN with model.safetensors) or a deploy model directory`);
  }
  if (existsSync(join(path, 'model.json'))) return { kind: 'deploy', dir: path, modelJson: join(path, 'model.json') };
  if (existsSync(join(path, 'model.safetensors'))) return { kind: 'checkpoint', dir: path, weights: join(path, 'model.safetensors') };
  for (const dir of [path, join(path, 'checkpoints')]) {
    const latest = latestIn(dir);
    if (latest !== null) return { kind: 'checkpoint', dir: latest, weights: join(latest, 'model.safetensors') };
  }
  throw new InputError(`${path}: holds no model.safetensors, model.json or model_NNNNNNN checkpoint`);
}

/** The checkpoint `last` names in `dir`, else the newest model_NNNNNNN with weights; null when none. */
function latestIn(dir: string): string | null {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return null;
  const pointer = join(dir, 'last');
  if (existsSync(pointer) && statSync(pointer).isFile()) {
    const name = readFileSync(pointer, 'utf8').trim();
    if (CHECKPOINT_RE.test(name) && existsSync(join(dir, name, 'model.safetensors'))) return join(dir, name);
  }
  const names = readdirSync(dir)
    .filter((n) => CHECKPOINT_RE.test(n) && existsSync(join(dir, n, 'model.safetensors')))
    .sort();
  return names.length > 0 ? join(dir, names[names.length - 1]!) : null;
}

/**
 * The config a checkpoint was trained with: `configPath` when given, else the run's `config.json` in the checkpoint
 * directory or up to two levels above it (work_dir/checkpoints/model_N). Flag overrides apply on top.
 */
export function checkpointConfig(checkpointDir: string, configPath: string | null, overrides: unknown[] = []): { config: Config; source: string } {
  let path = configPath;
  if (path === null) {
    const dir = resolve(checkpointDir);
    path = [dir, dirname(dir), dirname(dirname(dir))].map((d) => join(d, 'config.json')).find((p) => existsSync(p)) ?? null;
    if (path === null) {
      throw new InputError(`${checkpointDir}: no config.json in the checkpoint directory or the two above it; pass --config FILE`);
    }
  }
  return { config: resolveConfig(path, overrides), source: path };
}

/**
 * Category ids and names of a run's classes: the categories.json its training wrote beside `configPath`, else
 * COCO's 80 when the model has 80 classes, else numbered.
 */
export function categoriesOf(config: Config, configPath: string): CategoryList {
  const written = readCategoryList(dirname(configPath));
  if (written !== null && written.ids.length === config.model.numClasses) return written;
  return defaultCategories(config.model.numClasses);
}

export interface LoadDetectorOptions {
  /** Config file to use instead of the run's config.json (checkpoints only). */
  configPath: string | null;
  /** Flag overrides on top of the config (checkpoints only). */
  overrides: unknown[];
}

/**
 * Loads what a CHECKPOINT argument names as a detector: a training checkpoint (the model rebuilt from its config,
 * weights checked name by name and shape by shape) or an exported deploy model. A config that does not fit the
 * weights is an InputError naming the weights file and the first tensor that differs.
 */
export async function loadDetector(path: string, opts: LoadDetectorOptions): Promise<LoadedDetector> {
  const source = resolveModelSource(path);
  if (source.kind === 'deploy') {
    const { spec, weights } = readTfjsDeployModel(source.dir);
    const model = new DeployRetinaNet(spec, weights);
    const input: InputConfig = {
      ...defaultConfig().input,
      testMinSize: spec.input.minSize,
      maxSize: spec.input.maxSize,
      sizeDivisor: spec.input.sizeDivisor,
      pixelMean: spec.input.pixelMean,
      pixelStd: spec.input.pixelStd,
    };
    return {
      detector: model,
      description: `deploy model ${source.dir} (${spec.block} ResNet, ${spec.numClasses} classes)`,
      input,
      categories: spec.categories,
      dispose: () => model.dispose(),
    };
  }
  const { config, source: configSource } = checkpointConfig(source.dir, opts.configPath, opts.overrides);
  const model = buildRetinaNet(config.model);
  try {
    loadModelWeights(source.dir, model);
  } catch (err) {
    model.dispose();
    if (err instanceof InputError) throw new InputError(`${err.message} (config ${configSource} does not match these weights)`);
    throw err;
  }
  return {
    detector: model,
    description: `checkpoint ${source.dir} (ResNet-${config.model.depth} x${config.model.widthMultiplier}, ${config.model.norm}, ${config.model.numClasses} classes; config ${configSource})`,
    input: config.input,
    categories: categoriesOf(config, configSource),
    model,
    dispose: () => model.dispose(),
  };
}
