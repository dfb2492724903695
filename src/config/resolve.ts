import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { InputError } from '../util/errors.js';
import { defaultConfig } from './defaults.js';
import { NORM_KINDS, type Config } from './types.js';

/** Values a string-typed field may take; anything else is an error naming the field. */
const ENUMS: Record<string, readonly string[]> = {
  backend: ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'],
  'model.norm': NORM_KINDS,
  'model.p6Input': ['p5', 'c5'],
  'model.boxLoss': ['l1', 'smooth_l1', 'giou'],
  'solver.optimizer': ['sgd', 'adam', 'adamw'],
  'solver.schedule': ['multistep', 'cosine', 'constant'],
};
const DEPTHS = [18, 34, 50, 101];
/** Fields whose default is null but which take a string. */
const NULLABLE_STRINGS = new Set(['data.root', 'model.pretrainedBackbone']);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Merges `overrides` into `base` in place, checking every field against the defaults' shape.
 * `source` names where the overrides came from (a file path or "--set") for error messages.
 */
export function mergeOverrides(base: Config, overrides: unknown, source: string): Config {
  mergeInto(base as unknown as Record<string, Json>, overrides, '', source);
  validate(base, source);
  return base;
}

function mergeInto(target: Record<string, Json>, overrides: unknown, prefix: string, source: string): void {
  if (!isPlainObject(overrides)) {
    throw new InputError(`${source}: ${prefix ? `field "${prefix}"` : 'the config'} must be a JSON object`);
  }
  for (const [key, value] of Object.entries(overrides)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (!(key in target)) throw new InputError(`${source}: unknown field "${path}"`);
    const current = target[key]!;
    if (isPlainObject(current)) {
      mergeInto(current as Record<string, Json>, value, path, source);
    } else {
      target[key] = checkValue(current, value as Json, path, source);
    }
  }
}

function checkValue(current: Json, value: Json, path: string, source: string): Json {
  const fail = (expected: string): never => {
    throw new InputError(`${source}: field "${path}" must be ${expected}, got ${JSON.stringify(value)}`);
  };
  if (current === null || NULLABLE_STRINGS.has(path)) {
    if (value !== null && typeof value !== 'string') fail('a string or null');
    return value;
  }
  if (Array.isArray(current)) {
    if (!Array.isArray(value)) fail('an array');
    const array = value as Json[];
    const element = current[0];
    if (element !== undefined && array.some((v) => typeof v !== typeof element)) fail(`an array of ${typeof element}s`);
    if (typeof element === 'number' && array.some((v) => !Number.isFinite(v))) fail('an array of finite numbers');
    return array;
  }
  if (typeof current === 'number') {
    if (typeof value !== 'number' || !Number.isFinite(value)) fail('a finite number');
    return value;
  }
  if (typeof value !== typeof current) fail(`a ${typeof current}`);
  return value;
}

/** Checks enumerations and ranges that the shape check cannot see. */
export function validate(config: Config, source: string): void {
  const get = (path: string): unknown =>
    path.split('.').reduce<unknown>((obj, key) => (obj as Record<string, unknown>)[key], config);
  for (const [path, allowed] of Object.entries(ENUMS)) {
    const value = get(path);
    if (!allowed.includes(value as string)) {
      throw new InputError(`${source}: field "${path}" must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    }
  }
  const { model: m, input, data, solver: o, train: t, collapse: c } = config;
  const int = (x: number, min: number): boolean => Number.isInteger(x) && x >= min;
  const within = (x: number, lo: number, hi: number): boolean => x >= lo && x <= hi;
  const all = (xs: readonly number[], ok: (x: number) => boolean): boolean => xs.every(ok);
  const rules: [boolean, string, string][] = [
    [Number.isInteger(config.seed), 'seed', 'an integer'],
    [DEPTHS.includes(m.depth), 'model.depth', `one of ${DEPTHS.join(', ')}`],
    [m.widthMultiplier > 0, 'model.widthMultiplier', 'positive'],
    [int(m.frozenStages, 0) && m.frozenStages <= 5, 'model.frozenStages', 'an integer 0..5'],
    // FrozenBN is fixed statistics and a fixed affine: a config that asks it to train or to use batch statistics
    // would silently not get it (--norm frozen_bn sets both; bn / psbn take either)
    [m.norm !== 'frozen_bn' || !m.normAffineTrainable, 'model.normAffineTrainable', 'false with model.norm "frozen_bn" (FrozenBN never trains gamma/beta)'],
    [m.norm !== 'frozen_bn' || m.normEval, 'model.normEval', 'true with model.norm "frozen_bn" (FrozenBN never uses batch statistics)'],
    [m.bnEpsilon > 0, 'model.bnEpsilon', 'positive'],
    [within(m.bnMomentum, 0, 1), 'model.bnMomentum', 'in [0, 1]'],
    [int(m.fpnChannels, 1), 'model.fpnChannels', 'a positive integer'],
    [int(m.headDepth, 0), 'model.headDepth', 'an integer >= 0'],
    [int(m.headChannels, 1), 'model.headChannels', 'a positive integer'],
    [int(m.numClasses, 1), 'model.numClasses', 'a positive integer'],
    [m.anchorSizes.length === 5, 'model.anchorSizes', 'five sizes, one per level P3..P7'],
    [all(m.anchorSizes, (x) => x > 0), 'model.anchorSizes', 'positive'],
    [m.anchorScales.length > 0 && all(m.anchorScales, (x) => x > 0), 'model.anchorScales', 'a non-empty list of positive numbers'],
    [m.aspectRatios.length > 0 && all(m.aspectRatios, (x) => x > 0), 'model.aspectRatios', 'a non-empty list of positive numbers'],
    [within(m.matcherHighThreshold, 0, 1), 'model.matcherHighThreshold', 'in [0, 1]'],
    [within(m.matcherLowThreshold, 0, 1), 'model.matcherLowThreshold', 'in [0, 1]'],
    [m.matcherLowThreshold <= m.matcherHighThreshold, 'model.matcherLowThreshold', 'at most matcherHighThreshold'],
    [m.boxCoderWeights.length === 4 && all(m.boxCoderWeights, (x) => x > 0), 'model.boxCoderWeights', 'four positive numbers'],
    [m.smoothL1Beta >= 0, 'model.smoothL1Beta', 'at least 0'],
    [m.focalAlpha <= 1, 'model.focalAlpha', 'at most 1 (negative = no weighting)'],
    [m.focalGamma >= 0, 'model.focalGamma', 'at least 0'],
    [m.priorProbability > 0 && m.priorProbability < 1, 'model.priorProbability', 'in (0, 1)'],
    [within(m.scoreThreshold, 0, 1), 'model.scoreThreshold', 'in [0, 1]'],
    [int(m.topkCandidates, 1), 'model.topkCandidates', 'a positive integer'],
    [within(m.nmsThreshold, 0, 1), 'model.nmsThreshold', 'in [0, 1]'],
    [int(m.detectionsPerImage, 1), 'model.detectionsPerImage', 'a positive integer'],
    [input.trainMinSizes.length > 0, 'input.trainMinSizes', 'a non-empty list'],
    [all(input.trainMinSizes, (x) => int(x, 1)), 'input.trainMinSizes', 'positive integers'],
    [int(input.testMinSize, 1), 'input.testMinSize', 'a positive integer'],
    [int(input.maxSize, 1), 'input.maxSize', 'a positive integer'],
    [int(input.sizeDivisor, 1), 'input.sizeDivisor', 'an integer >= 1'],
    [within(input.flipProbability, 0, 1), 'input.flipProbability', 'in [0, 1]'],
    [input.pixelMean.length === 3, 'input.pixelMean', 'three numbers (R, G, B)'],
    [input.pixelStd.length === 3 && all(input.pixelStd, (x) => x > 0), 'input.pixelStd', 'three positive numbers (R, G, B)'],
    [int(data.trainLimit, 0), 'data.trainLimit', 'an integer >= 0 (0 = all)'],
    [int(data.valLimit, 0), 'data.valLimit', 'an integer >= 0 (0 = all)'],
    [int(data.prefetch, 0), 'data.prefetch', 'an integer >= 0'],
    [int(data.workers, 0), 'data.workers', 'an integer >= 0 (0 = decode on the main thread)'],
    [int(data.maxDecodePixels, 1), 'data.maxDecodePixels', 'a positive integer'],
    [int(data.maxImagePixels, 1), 'data.maxImagePixels', 'a positive integer'],
    [o.baseLr > 0, 'solver.baseLr', 'positive'],
    [o.momentum >= 0 && o.momentum < 1, 'solver.momentum', 'in [0, 1)'],
    [o.weightDecay >= 0, 'solver.weightDecay', 'at least 0'],
    [o.weightDecayNorm >= 0, 'solver.weightDecayNorm', 'at least 0'],
    [o.weightDecayBias >= 0, 'solver.weightDecayBias', 'at least 0'],
    [o.adamBetas.length === 2 && all(o.adamBetas, (x) => x >= 0 && x < 1), 'solver.adamBetas', 'two numbers in [0, 1)'],
    [o.adamEpsilon > 0, 'solver.adamEpsilon', 'positive'],
    [o.clipGradNorm >= 0, 'solver.clipGradNorm', 'at least 0 (0 = off)'],
    [int(o.batchSize, 1), 'solver.batchSize', 'a positive integer'],
    [int(o.referenceBatchSize, 1), 'solver.referenceBatchSize', 'a positive integer'],
    [int(o.maxIter, 1), 'solver.maxIter', 'an integer >= 1'],
    [all(o.steps, (x) => int(x, 1)) && o.steps.every((x, i) => i === 0 || x > o.steps[i - 1]!), 'solver.steps', 'increasing positive integers'],
    [o.gamma > 0, 'solver.gamma', 'positive'],
    [int(o.warmupIters, 0), 'solver.warmupIters', 'an integer >= 0'],
    [within(o.warmupFactor, 0, 1), 'solver.warmupFactor', 'in [0, 1]'],
    [int(t.logPeriod, 1), 'train.logPeriod', 'an integer >= 1'],
    [int(t.checkpointPeriod, 0), 'train.checkpointPeriod', 'an integer >= 0 (0 = only at the end)'],
    [int(t.keepCheckpoints, 1), 'train.keepCheckpoints', 'an integer >= 1'],
    [int(t.evalPeriod, 0), 'train.evalPeriod', 'an integer >= 0 (0 = only at the end)'],
    [int(t.collapsePeriod, 0), 'train.collapsePeriod', 'an integer >= 0 (0 = only at the end)'],
    [t.explosionFactor === 0 || t.explosionFactor > 1, 'train.explosionFactor', '0 (off) or above 1'],
    [int(t.explosionWarmupIters, 1), 'train.explosionWarmupIters', 'an integer >= 1'],
    [int(c.probeImages, 1), 'collapse.probeImages', 'a positive integer'],
    [c.gammaThreshold >= 0, 'collapse.gammaThreshold', 'at least 0'],
    [(data.trainAnnotationFile === null) === (data.trainImageDir === null), 'data.trainImageDir', 'set together with data.trainAnnotationFile (--train-json with --train-images)'],
    [(data.valAnnotationFile === null) === (data.valImageDir === null), 'data.valImageDir', 'set together with data.valAnnotationFile (--val-json with --val-images)'],
  ];
  for (const [ok, path, expected] of rules) {
    if (!ok) throw new InputError(`${source}: field "${path}" must be ${expected}, got ${JSON.stringify(get(path))}`);
  }
}

/**
 * Settings that are valid but almost certainly not meant, one line each (the CLI prints them as warnings): a
 * warm-up longer than the run, a step of the schedule the run never reaches.
 */
export function configWarnings(config: Config): string[] {
  const { maxIter, warmupIters, steps, schedule } = config.solver;
  const out: string[] = [];
  if (warmupIters > maxIter) {
    out.push(`solver.warmupIters ${warmupIters} exceeds solver.maxIter ${maxIter}: the whole run stays in the linear warm-up`);
  }
  const unreached = schedule === 'multistep' ? steps.filter((s) => s >= maxIter) : [];
  if (unreached.length > 0) {
    out.push(`solver.steps [${unreached.join(', ')}] at or past solver.maxIter ${maxIter}: the learning rate never drops there`);
  }
  return out;
}

/** Reads a config file (models/*.json) as overrides, with errors naming the file. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InputError(`${path}: cannot read config file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`${path}: malformed JSON (${(err as Error).message})`);
  }
}

/**
 * Parses `--set a.b=c` assignments into a nested overrides object. The value is read as JSON when it parses
 * (numbers, booleans, null, arrays) and as a plain string otherwise.
 */
export function parseAssignments(assignments: readonly string[]): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const assignment of assignments) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw new InputError(`--set: expected key=value, got "${assignment}"`);
    const keys = assignment.slice(0, eq).split('.');
    const raw = assignment.slice(eq + 1);
    let value: Json;
    try {
      value = JSON.parse(raw) as Json;
    } catch {
      value = raw;
    }
    let node = out;
    for (const key of keys.slice(0, -1)) {
      if (!isPlainObject(node[key])) node[key] = {};
      node = node[key] as Record<string, Json>;
    }
    node[keys[keys.length - 1]!] = value;
  }
  return out;
}

/**
 * defaults <- config file <- flag overrides. `flagOverrides` come from the CLI (its named flags and `--set`);
 * the run's name defaults to the config file's base name.
 */
export function resolveConfig(configPath: string | null, flagOverrides: unknown[] = []): Config {
  const config = defaultConfig();
  if (configPath !== null) {
    config.name = basename(configPath, extname(configPath));
    mergeOverrides(config, readConfigFile(configPath), configPath);
  }
  for (const overrides of flagOverrides) mergeOverrides(config, overrides, 'command line');
  return config;
}

function isPlainObject(value: unknown): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
