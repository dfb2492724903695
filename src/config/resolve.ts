import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { InputError } from '../util/errors.js';
import { defaultConfig } from './defaults.js';
import type { Config } from './types.js';

/** Values a string-typed field may take; anything else is an error naming the field. */
const ENUMS: Record<string, readonly string[]> = {
  backend: ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'],
  'model.norm': ['bn', 'frozen_bn', 'psbn'],
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
  const m = config.model;
  const rules: [boolean, string, string][] = [
    [DEPTHS.includes(m.depth), 'model.depth', `one of ${DEPTHS.join(', ')}`],
    [m.widthMultiplier > 0, 'model.widthMultiplier', 'positive'],
    [Number.isInteger(m.frozenStages) && m.frozenStages >= 0 && m.frozenStages <= 5, 'model.frozenStages', 'an integer 0..5'],
    [Number.isInteger(m.numClasses) && m.numClasses > 0, 'model.numClasses', 'a positive integer'],
    [m.anchorSizes.length === 5, 'model.anchorSizes', 'five sizes, one per level P3..P7'],
    [m.matcherLowThreshold <= m.matcherHighThreshold, 'model.matcherLowThreshold', 'at most matcherHighThreshold'],
    [config.solver.batchSize >= 1 && Number.isInteger(config.solver.batchSize), 'solver.batchSize', 'a positive integer'],
    [config.solver.maxIter >= 1, 'solver.maxIter', 'at least 1'],
    [config.input.trainMinSizes.length > 0, 'input.trainMinSizes', 'a non-empty list'],
    [config.input.sizeDivisor >= 1, 'input.sizeDivisor', 'at least 1'],
    [(config.data.trainAnnotationFile === null) === (config.data.trainImageDir === null), 'data.trainImageDir', 'set together with data.trainAnnotationFile (--train-json with --train-images)'],
    [(config.data.valAnnotationFile === null) === (config.data.valImageDir === null), 'data.valImageDir', 'set together with data.valAnnotationFile (--val-json with --val-images)'],
  ];
  for (const [ok, path, expected] of rules) {
    if (!ok) throw new InputError(`${source}: field "${path}" must be ${expected}, got ${JSON.stringify(get(path))}`);
  }
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
