/**
 * The weights argument every command shares. A CHECKPOINT / --weights value is one of
 *   a psdet checkpoint (model_NNNNNNN, or a checkpoints/ or work dir: its newest), or a deploy model directory;
 *   a `.pth` / `.pt` / `.safetensors` state dict under torchvision names (or psdet names);
 *   torchvision:NAME (see src/weights/catalogue.ts), downloaded once into $PSDET_CACHE (~/.cache/psdet);
 *   an http(s) URL of a state dict, cached the same way.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { shiftBetaForPsbn } from '../analysis/psbn-shift.js';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../config/resolve.js';
import type { Config } from '../config/types.js';
import type { CategoryList } from '../data/categories.js';
import { defaultCategories } from '../infer/coco-categories.js';
import { checkpointConfig, type LoadedDetector } from '../infer/load.js';
import { buildRetinaNet } from '../model/build.js';
import type { RetinaNet } from '../model/retinanet.js';
import { loadModelWeights, resolveResume } from '../train/checkpoint.js';
import { InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { logProgress, type DownloadOptions } from '../weights/download.js';
import { applyWeights, readWeightsSpec, type ReadWeights } from '../weights/load.js';
import { parseWeightsSpec } from '../weights/source.js';

export { WEIGHTS_HELP } from './weights-help.js';

/** The config a model around torchvision weights starts from when no --config is given: torchvision's recipe. */
export const TORCHVISION_CONFIG = fileURLToPath(new URL('../../models/retinanet_r50_fpn_1x_coco.json', import.meta.url));

/**
 * Whether an argument names state dict weights (a file, torchvision:NAME or a URL) rather than a psdet checkpoint
 * or deploy model directory (which src/infer/load.ts and src/train/checkpoint.ts read).
 */
export function isStateDictSpec(arg: string): boolean {
  if (arg.startsWith('torchvision:') || /^[a-z][a-z0-9+.-]*:\/\//i.test(arg)) return true;
  return existsSync(arg) && statSync(arg).isFile() && basename(arg) !== 'last';
}

/** Download progress on stderr: one updating line on a terminal, a line per tenth of the file otherwise. */
export function downloadProgress(command: string, stream: NodeJS.WriteStream = process.stderr): DownloadOptions {
  if (!stream.isTTY) return logProgress('weights', (line) => stream.write(`${command}: ${line}\n`));
  return {
    onProgress: (received, total) => {
      const mb = (n: number): string => (n / 2 ** 20).toFixed(1);
      stream.write(`\r${command}: downloading ${mb(received)}${total === null ? '' : ` / ${mb(total)}`} MB${total !== null && received >= total ? '\n' : ''}`);
    },
  };
}

/**
 * The config for a model that state dict weights go into: `configPath` when given, else torchvision's recipe
 * (retinanet_r50_fpn_1x_coco.json, depth from a torchvision:NAME), flag overrides on top, and `numClasses` from the
 * categories when given.
 */
export function configForWeights(spec: string, configPath: string | null, overrides: unknown[], numClasses: number | null): Config {
  const parsed = parseWeightsSpec(spec);
  const depth = parsed.kind === 'torchvision' && configPath === null ? [{ model: { depth: parsed.entry.depth } }] : [];
  const classes = numClasses === null ? [] : [{ model: { numClasses } }];
  return resolveConfig(configPath ?? TORCHVISION_CONFIG, [...depth, ...overrides, ...classes]);
}

/** Fetches, reads and loads state dict weights into `model`; returns the log line. */
export function loadReadWeights(model: RetinaNet, read: ReadWeights, config: Config, categories: CategoryList | null): string {
  const report = applyWeights(model, read, config.model, { categories });
  return `weights ${read.label}: ${report.summary}`;
}

/**
 * A detector built around state dict weights (see configForWeights): for eval-det --weights and infer-det with a
 * `.pth`, torchvision:NAME or URL. `categories`: the dataset's classes (eval), else COCO's 80.
 */
export async function detectorFromWeights(
  spec: string,
  opts: { configPath: string | null; overrides: unknown[]; categories: CategoryList | null; command: string },
): Promise<LoadedDetector & { config: Config }> {
  const read = await readWeightsSpec(spec, downloadProgress(opts.command));
  const config = configForWeights(spec, opts.configPath, opts.overrides, opts.categories?.ids.length ?? null);
  const categories = opts.categories ?? defaultCategories(config.model.numClasses);
  const model = buildRetinaNet(config.model, new Rng(config.seed));
  let line: string;
  try {
    line = loadReadWeights(model, read, config, categories);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return {
    detector: model,
    description: `${line} (ResNet-${config.model.depth}, ${config.model.norm}, ${config.model.numClasses} classes; config ${opts.configPath ?? TORCHVISION_CONFIG})`,
    input: config.input,
    categories,
    model,
    config,
    dispose: () => model.dispose(),
  };
}

/** What train-det hands the job to fine-tune from (JobOptions.initWeights). */
export interface InitialWeights {
  load: (model: RetinaNet, categories: readonly { id: number; name: string }[]) => void;
  label: string;
}

/**
 * train-det --weights: the weights fetched now (a download happens before training starts), loaded into the fresh
 * model by the job with the dataset's classes. A psdet checkpoint loads name for name (a BN / FrozenBN one into a
 * psBN model gets the beta shift too); a state dict goes through src/weights/pretrained.ts.
 */
export async function initialWeights(spec: string, config: Config, log: (line: string) => void): Promise<InitialWeights> {
  if (!isStateDictSpec(spec)) {
    const dir = existsSync(join(spec, 'model.safetensors')) ? spec : resolveResume(spec, join(spec, 'checkpoints'));
    if (dir === null) throw new InputError(`${spec}: neither a weights file nor a directory holding a psdet checkpoint`);
    const sourceNorm = readSourceNorm(dir);
    const shift = config.model.norm === 'psbn' && sourceNorm !== 'psbn';
    return {
      label: `${dir}${shift ? ` (a ${sourceNorm} checkpoint: beta shifted by -${config.model.psbnAlpha} for psBN)` : ''}`,
      load: (model) => {
        loadModelWeights(dir, model);
        if (shift) shiftBetaForPsbn(model.backbone.params(), config.model.psbnAlpha);
      },
    };
  }
  const read = await readWeightsSpec(spec, downloadProgress('train-det'));
  return {
    label: read.label,
    load: (model, categories) => {
      log(loadReadWeights(model, read, config, { ids: categories.map((c) => c.id), names: categories.map((c) => c.name) }));
    },
  };
}

/** The norm a psdet checkpoint was trained with, from the run's config.json (BN when there is none). */
function readSourceNorm(checkpointDir: string): Config['model']['norm'] {
  try {
    return checkpointConfig(checkpointDir, null).config.model.norm;
  } catch {
    return 'bn';
  }
}
