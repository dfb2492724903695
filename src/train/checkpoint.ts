import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '../model/module.js';
import { environmentError } from '../util/env-errors.js';
import { InputError } from '../util/errors.js';
import type { RngState } from '../util/rng.js';
import type { Optimizer, OptimizerState } from './optimizer.js';
import { readSafetensors, type StoredTensor } from '../weights/safetensors.js';
import { encodeTensors, fsyncDir, writeFileDurable } from './tensor-file.js';

/**
 * Checkpoints: a directory `checkpoints/model_0000500/` (named by completed iterations) holding
 * `model.safetensors` (parameters and buffers by name), `optimizer.safetensors` (slot tensors) and `state.json`
 * (iteration, optimizer steps, RNG, loader position, schedule settings). A checkpoint is written into a temporary
 * directory, every file fsynced, then renamed into place in one step, and `checkpoints/last` is replaced the same
 * way: a crash at any moment leaves the previous checkpoint and pointer intact.
 */

export const CHECKPOINT_FORMAT = 'psdet-checkpoint-1';

/** The non-tensor part of a checkpoint. */
export interface TrainingState {
  /** Iterations completed: training resumes at this 0-based iteration. */
  iteration: number;
  /** The trainer's RNG state. */
  rng: RngState;
  /** The data loader's position (its own JSON). */
  loader: unknown;
  /** Schedule-relevant solver settings, to check a resume continues the same schedule. */
  schedule: Record<string, unknown>;
  /** Anything else worth keeping (run name, wall time). */
  extra?: Record<string, unknown>;
}

interface StateFile extends TrainingState {
  format: string;
  optimizer: { kind: OptimizerState['kind']; steps: Record<string, number> };
}

const NAME_RE = /^model_(\d{7,})$/;

/** `model_0000500` for 500 completed iterations. */
export function checkpointName(iteration: number): string {
  return `model_${String(iteration).padStart(7, '0')}`;
}

/** The tensors of a module's parameters and buffers, keyed by name. */
export function moduleTensors(model: Module): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const p of model.params()) out[p.name] = p.variable;
  for (const b of model.buffers()) out[b.name] = b.variable;
  return out;
}

/**
 * Assigns saved values to every parameter and buffer of `model`; a missing name or a shape mismatch is an error
 * naming the file and the tensor.
 */
export function assignModuleTensors(model: Module, tensors: ReadonlyMap<string, StoredTensor>, source: string): void {
  for (const [name, variable] of Object.entries(moduleTensors(model))) {
    const saved = tensors.get(name);
    if (saved === undefined) throw new InputError(`${source}: tensor "${name}" is missing`);
    if (!tf.util.arraysEqual(saved.shape, variable.shape)) {
      throw new InputError(`${source}: tensor "${name}" has shape [${saved.shape}], expected [${variable.shape}]`);
    }
    const value = tf.tensor(saved.values, saved.shape, saved.values instanceof Int32Array ? 'int32' : 'float32');
    (variable as tf.Variable).assign(value);
    value.dispose();
  }
}

/** Loads only the model weights of a checkpoint directory (for evaluation or fine-tuning). */
export function loadModelWeights(checkpointDir: string, model: Module): void {
  const path = join(checkpointDir, 'model.safetensors');
  assignModuleTensors(model, readSafetensors(path).tensors, path);
}

export interface SaveOptions {
  /** Called after every file is written and before the rename (tests use it to simulate a crash). */
  beforeCommit?: () => void;
  /** Writes and flushes one file (tests hand in one that fails like a full disk). */
  writeFile?: (path: string, data: Uint8Array | string) => void;
}

/**
 * Writes a checkpoint atomically into `dir` (created if needed), points `last` at it and keeps the newest `keep`
 * checkpoints. Returns the checkpoint's directory.
 */
export async function saveCheckpoint(
  dir: string,
  model: Module,
  optimizer: Optimizer,
  state: TrainingState,
  keep: number,
  options: SaveOptions = {},
): Promise<string> {
  const write = options.writeFile ?? writeFileDurable;
  const name = checkpointName(state.iteration);
  const temp = join(dir, `.tmp-${name}-${process.pid}`);
  const pointerTemp = join(dir, `.tmp-last-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true });
    rmSync(temp, { recursive: true, force: true });
    mkdirSync(temp);
  } catch (err) {
    throw environmentError(err, dir, 'write') ?? err;
  }
  try {
    return await commitCheckpoint();
  } catch (err) {
    // A failed write (a full disk, a read-only remount) leaves no partial files: the previous checkpoint and
    // `last` were never touched.
    try {
      rmSync(temp, { recursive: true, force: true });
      rmSync(pointerTemp, { force: true });
    } catch {
      // a read-only remount cannot be cleaned either; the next start removes the leftovers (removeTemporaries)
    }
    throw environmentError(err, join(dir, name), 'write') ?? err;
  }

  async function commitCheckpoint(): Promise<string> {
    const optState = optimizer.state();
    write(join(temp, 'model.safetensors'), await encodeTensors(moduleTensors(model), { format: CHECKPOINT_FORMAT }));
    write(join(temp, 'optimizer.safetensors'), await encodeTensors(optState.tensors, { format: CHECKPOINT_FORMAT }));
    const stateFile: StateFile = {
      format: CHECKPOINT_FORMAT,
      ...state,
      optimizer: { kind: optState.kind, steps: optState.steps },
    };
    write(join(temp, 'state.json'), `${JSON.stringify(stateFile, null, 2)}\n`);
    fsyncDir(temp);
    options.beforeCommit?.();
    const final = join(dir, name);
    if (existsSync(final)) removeCheckpointDir(final);
    renameSync(temp, final);
    write(pointerTemp, `${name}\n`);
    renameSync(pointerTemp, join(dir, 'last'));
    fsyncDir(dir);
    pruneCheckpoints(dir, keep, name);
    return final;
  }
}

/**
 * Removes what interrupted writes left in a checkpoints directory (`.tmp-*` of a process killed mid-write) and
 * returns their names. Only safe while no other process writes there (the run lock, src/train/run-lock.ts).
 */
export function removeTemporaries(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const stale = readdirSync(dir).filter((name) => name.startsWith('.tmp-'));
  for (const name of stale) rmSync(join(dir, name), { recursive: true, force: true });
  return stale;
}

/** Complete checkpoints in `dir`, oldest first. Temporary directories of interrupted writes are ignored. */
export function listCheckpoints(dir: string): { name: string; iteration: number; path: string }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((name) => ({ name, match: NAME_RE.exec(name) }))
    .filter((e) => e.match !== null && existsSync(join(dir, e.name, 'state.json')))
    .map((e) => ({ name: e.name, iteration: Number(e.match![1]), path: join(dir, e.name) }))
    .sort((a, b) => a.iteration - b.iteration);
}

/** Removes all but the newest `keep` checkpoints (never `protect`) and leftovers of interrupted writes. */
export function pruneCheckpoints(dir: string, keep: number, protect: string): void {
  const all = listCheckpoints(dir);
  const doomed = all.slice(0, Math.max(0, all.length - Math.max(1, keep)));
  for (const c of doomed) if (c.name !== protect) removeCheckpointDir(c.path);
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.tmp-') && !name.endsWith(`-${process.pid}`)) rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/**
 * Deletes a complete checkpoint so that no kill can leave it half-deleted under its own name: it is renamed to a
 * temporary name first (one atomic step; listCheckpoints ignores `.tmp-*`), then removed.
 */
function removeCheckpointDir(path: string): void {
  const doomed = join(dirname(path), `.tmp-removed-${basename(path)}-${process.pid}`);
  renameSync(path, doomed);
  rmSync(doomed, { recursive: true, force: true });
}

/** The checkpoint `last` points to, else the newest complete one, else null. */
export function latestCheckpoint(dir: string): string | null {
  const pointer = join(dir, 'last');
  if (existsSync(pointer)) {
    const name = readFileSync(pointer, 'utf8').trim();
    if (NAME_RE.test(name) && existsSync(join(dir, name, 'state.json'))) return join(dir, name);
  }
  const all = listCheckpoints(dir);
  return all.length > 0 ? all[all.length - 1]!.path : null;
}

/**
 * What `--resume` names: `auto` = the latest checkpoint in `checkpointsDir` (null when there is none: a fresh
 * start); a path = that checkpoint directory, or a checkpoints directory whose latest is taken.
 */
export function resolveResume(spec: string, checkpointsDir: string): string | null {
  if (spec === 'auto') return latestCheckpoint(checkpointsDir);
  if (!existsSync(spec)) throw new InputError(`--resume: ${spec} does not exist`);
  if (statSync(spec).isDirectory() && existsSync(join(spec, 'state.json'))) return spec;
  const inner = latestCheckpoint(spec) ?? latestCheckpoint(join(spec, 'checkpoints'));
  if (inner === null) throw new InputError(`--resume: ${spec} holds no checkpoint (expected a model_NNNNNNN directory)`);
  return inner;
}

/**
 * Restores parameters, buffers and optimizer state from a checkpoint directory and returns the training state.
 * Errors name the file and the field.
 */
export function loadCheckpoint(checkpointDir: string, model: Module, optimizer: Optimizer): TrainingState {
  const statePath = join(checkpointDir, 'state.json');
  let state: StateFile;
  try {
    state = JSON.parse(readFileSync(statePath, 'utf8')) as StateFile;
  } catch (err) {
    throw new InputError(`${statePath}: cannot read checkpoint state (${(err as Error).message})`);
  }
  if (state.format !== CHECKPOINT_FORMAT) {
    throw new InputError(`${statePath}: field "format" is ${JSON.stringify(state.format)}, expected "${CHECKPOINT_FORMAT}"`);
  }
  if (!Number.isInteger(state.iteration) || state.iteration < 0) {
    throw new InputError(`${statePath}: field "iteration" must be a non-negative integer`);
  }
  loadModelWeights(checkpointDir, model);
  const optPath = join(checkpointDir, 'optimizer.safetensors');
  const host = readSafetensors(optPath).tensors;
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, h] of host) tensors[name] = tf.tensor(h.values, h.shape, h.values instanceof Int32Array ? 'int32' : 'float32');
  try {
    optimizer.loadState({ kind: state.optimizer.kind, steps: state.optimizer.steps, tensors }, optPath);
  } finally {
    tf.dispose(Object.values(tensors));
  }
  const { iteration, rng, loader, schedule, extra } = state;
  return { iteration, rng, loader, schedule, ...(extra !== undefined ? { extra } : {}) };
}

/** The checkpoint's directory name, for messages. */
export function checkpointLabel(path: string): string {
  return basename(path);
}
