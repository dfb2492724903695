import { Command, CommanderError, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultConfig } from '../config/defaults.js';
import { mergeOverrides, parseAssignments, readConfigFile, resolveConfig } from '../config/resolve.js';
import { NORM_KINDS, normPreset, type Config, type NormKind } from '../config/types.js';
import { InputError } from '../util/errors.js';
import { parseWeightsSpec } from '../weights/source.js';
import { WEIGHTS_HELP } from './weights-help.js';
import { findLastRun } from './last-run.js';

/** The config used when none is named: the tiny RetinaNet on the embedded shapes set. */
export const DEFAULT_CONFIG = fileURLToPath(new URL('../../models/retinanet_r18_tiny_shapes.json', import.meta.url));

/** What `train-det` was asked to do, before the config is resolved. */
export interface TrainCommand {
  configPath: string;
  /** Whether CONFIG was named (else configPath is DEFAULT_CONFIG). */
  configGiven: boolean;
  /** Flag overrides in precedence order (named flags, then each --set). */
  overrides: unknown[];
  /** null = fresh start; 'auto' = newest checkpoint of the work dir; else a checkpoint path. */
  resume: string | null;
  evalOnly: boolean;
  /** Progress bar on a terminal (off with --no-progress). */
  progress: boolean;
  /** --verbose: also print what the GPU drivers wrote while the backend was chosen. */
  verbose: boolean;
  /** Fine-tune from these weights (src/cli/weights.ts), null = the config's initialisation. */
  weights: string | null;
  /** Print the resolved config as JSON and exit (--print-config). */
  printConfig: boolean;
}

function number(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InputError(`${flag}: expected a number, got "${value}"`);
    return n;
  };
}

/** The commander program (exported for --help text in docs). Parse errors throw instead of exiting. */
export function trainProgram(): Command {
  const program = new Command('train-det')
    .description('Train RetinaNet; with no CONFIG, the tiny config on the embedded shapes set.')
    .argument('[CONFIG]', 'model config (models/*.json)')
    .addOption(new Option('--norm <kind>', 'backbone norm layer, with its preset: bn / psbn use batch statistics and train gamma/beta, frozen_bn neither (--set model.normEval / normAffineTrainable override)').choices(NORM_KINDS))
    .option('--data <dir>', 'COCO-layout dataset root (annotations/, train2017/, val2017/)')
    .option('--train-json <file>', 'training annotation file (COCO JSON), with --train-images: a dataset from any pair of paths')
    .option('--train-images <dir>', 'image folder of --train-json')
    .option('--val-json <file>', 'validation annotation file (COCO JSON), with --val-images')
    .option('--val-images <dir>', 'image folder of --val-json')
    .option('--skip-bad-images', 'an unreadable image is a warning (counted, and left out of its batch), not an error')
    .option('--work-dir <dir>', 'run directory (default work_dirs/<config>-<norm>)')
    .addOption(new Option('--backend <name>', 'tfjs backend').choices(['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu']))
    .option('--weights <spec>', `fine-tune from ${WEIGHTS_HELP}`)
    .option('--resume [auto|path]', 'continue from the newest checkpoint of the work dir, or from PATH')
    .option('--eval-only', 'evaluate a checkpoint (the --resume one, else the newest) and exit')
    .option('--max-iter <n>', 'solver.maxIter', number('--max-iter'))
    .option('--lr <x>', 'solver.baseLr', number('--lr'))
    .option('--batch-size <n>', 'solver.batchSize', number('--batch-size'))
    .addOption(new Option('--optimizer <kind>', 'solver.optimizer').choices(['sgd', 'adam', 'adamw']))
    .option('--set <key=value...>', 'any config field, e.g. --set solver.steps=[600,800] train.evalPeriod=200')
    .option('--no-progress', 'no progress bar even on a terminal')
    .option('--verbose', 'also print what the GPU drivers wrote while the backend was chosen')
    .option('--print-config', 'print the resolved config (defaults <- CONFIG <- flags) as JSON and exit')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  return program;
}

/**
 * Parses `train-det` arguments (without node and script). Help and version requests throw a CommanderError with
 * exit code 0; bad input throws an InputError with one line.
 */
export function parseTrainArgs(args: readonly string[]): TrainCommand {
  const program = trainProgram();
  try {
    program.parse([...args], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError && err.exitCode !== 0) throw new InputError(err.message.replace(/^error: /, ''));
    throw err;
  }
  const o = program.opts<{
    norm?: string;
    data?: string;
    skipBadImages?: boolean;
    trainJson?: string;
    trainImages?: string;
    valJson?: string;
    valImages?: string;
    workDir?: string;
    backend?: string;
    resume?: string | boolean;
    evalOnly?: boolean;
    maxIter?: number;
    lr?: number;
    batchSize?: number;
    optimizer?: string;
    set?: string[];
    progress: boolean;
    verbose?: boolean;
    weights?: string;
    printConfig?: boolean;
  }>();
  const configPath = program.args[0] ?? DEFAULT_CONFIG;
  if (!existsSync(configPath)) throw new InputError(`${configPath}: config file not found`);
  const named: Record<string, Record<string, unknown> | unknown> = {};
  const model: Record<string, unknown> = {};
  const solver: Record<string, unknown> = {};
  const data: Record<string, unknown> = {};
  // the kind with its preset; a --set of normEval / normAffineTrainable comes later and wins
  if (o.norm !== undefined) Object.assign(model, { norm: o.norm, ...normPreset(o.norm as NormKind) });
  if (o.data !== undefined) data.root = o.data;
  if (o.skipBadImages === true) data.skipBadImages = true;
  if (o.trainJson !== undefined) data.trainAnnotationFile = o.trainJson;
  if (o.trainImages !== undefined) data.trainImageDir = o.trainImages;
  if (o.valJson !== undefined) data.valAnnotationFile = o.valJson;
  if (o.valImages !== undefined) data.valImageDir = o.valImages;
  if (o.workDir !== undefined) named.workDir = o.workDir;
  if (o.backend !== undefined) named.backend = o.backend;
  if (o.maxIter !== undefined) solver.maxIter = o.maxIter;
  if (o.lr !== undefined) solver.baseLr = o.lr;
  if (o.batchSize !== undefined) solver.batchSize = o.batchSize;
  if (o.optimizer !== undefined) solver.optimizer = o.optimizer;
  if (Object.keys(model).length > 0) named.model = model;
  if (Object.keys(solver).length > 0) named.solver = solver;
  if (Object.keys(data).length > 0) named.data = data;
  const overrides: unknown[] = [named, ...(o.set ?? []).map((a) => parseAssignments([a]))];
  let resume = o.resume === undefined ? null : o.resume === true ? 'auto' : String(o.resume);
  // checkpoints/last, the pointer file: its checkpoints directory, whose latest is the one it names
  if (resume !== null && resume !== 'auto' && basename(resume) === 'last' && existsSync(resume) && statSync(resume).isFile()) resume = dirname(resume);
  // An unknown torchvision:NAME or a malformed URL is reported before anything loads.
  if (o.weights !== undefined) parseWeightsSpec(o.weights);
  return {
    configPath,
    configGiven: program.args[0] !== undefined,
    overrides,
    resume,
    evalOnly: o.evalOnly === true,
    progress: o.progress,
    verbose: o.verbose === true,
    weights: o.weights ?? null,
    printConfig: o.printConfig === true,
  };
}

/**
 * defaults <- CONFIG <- flags. When neither the file nor a flag names a work dir, it is `work_dirs/<name>-<norm>`,
 * so runs with different norms never resume each other's checkpoints. A `--resume` or `--eval-only` without CONFIG
 * runs the work dir's own `config.json` instead (defaults <- config.json <- flags): `train-det --resume --work-dir X`
 * continues X as it was made, and only what the flags change is checked against it.
 */
export function resolveTrainConfig(cmd: TrainCommand): Config {
  const config = resolveConfig(cmd.configPath, cmd.overrides);
  // --weights replaces the config's backbone weights (no download of weights that would be overwritten).
  if (cmd.weights !== null) config.model.pretrainedBackbone = null;
  if (config.model.pretrainedBackbone !== null) parseWeightsSpec(config.model.pretrainedBackbone);
  const fileSetsWorkDir = (readConfigFile(cmd.configPath) as { workDir?: unknown }).workDir !== undefined;
  if (!fileSetsWorkDir && config.workDir === defaultConfig().workDir && !flagSetsWorkDir(cmd.overrides)) {
    config.workDir = defaultWorkDir(config);
    // --resume PATH: the run that checkpoint belongs to; --resume / --eval-only naming no run (no --work-dir, no
    // --norm): the latest run of this config. Either way with the run's config.json, flags on top.
    const last = flagSetsNorm(cmd.overrides)
      ? null
      : cmd.resume !== null && cmd.resume !== 'auto'
        ? runDirOf(cmd.resume)
        : cmd.resume !== null || cmd.evalOnly
          ? findLastRun(config.workDir, config.name)
          : null;
    // the run's own directory, wherever train-det runs from now (its config.json may hold a relative workDir)
    if (last !== null) config.workDir = last;
  }
  // Resuming (or evaluating) a run without naming a CONFIG: the run's own config.json, flags on top; a CONFIG named
  // again is compared with it when the run opens (src/train/run-dir.ts).
  const savedPath = join(config.workDir, 'config.json');
  if ((cmd.resume !== null || cmd.evalOnly) && !cmd.configGiven && existsSync(savedPath)) {
    const saved = mergeOverrides(defaultConfig(), readConfigFile(savedPath), savedPath);
    for (const overrides of cmd.overrides) mergeOverrides(saved, overrides, 'command line');
    return { ...saved, workDir: config.workDir };
  }
  return config;
}

/** `work_dirs/<name>-<norm>`: runs with different norms never resume each other's checkpoints. */
export function defaultWorkDir(config: Config): string {
  return `work_dirs/${config.name}-${config.model.norm}`;
}

/** The work dir a checkpoint (model_N, checkpoints/ or the work dir itself) belongs to: the nearest one with config.json. */
function runDirOf(path: string): string | null {
  const dir = resolve(path);
  return [dir, dirname(dir), dirname(dirname(dir))].find((d) => existsSync(join(d, 'config.json'))) ?? null;
}

function flagSetsNorm(overrides: unknown[]): boolean {
  return overrides.some((o) => typeof o === 'object' && o !== null && typeof (o as { model?: { norm?: unknown } }).model === 'object' && (o as { model: { norm?: unknown } }).model.norm !== undefined);
}

function flagSetsWorkDir(overrides: unknown[]): boolean {
  return overrides.some((o) => typeof o === 'object' && o !== null && 'workDir' in o);
}

/** Whether the command line (`--max-iter` or `--set solver.maxIter=N`) set solver.maxIter. */
export function setsMaxIter(cmd: TrainCommand): boolean {
  return cmd.overrides.some((o) => {
    const solver = (o as { solver?: unknown } | null)?.solver;
    return typeof solver === 'object' && solver !== null && 'maxIter' in solver;
  });
}
