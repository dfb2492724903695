import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { formatChanges, modelConflicts, planResume } from '../config/resume.js';
import type { Config } from '../config/types.js';
import { describeCode, EnvironmentError, environmentError, errnoCode } from '../util/env-errors.js';
import { InputError } from '../util/errors.js';
import { listCheckpoints, removeTemporaries, resolveResume } from './checkpoint.js';
import { acquireRunLock, takeoverLine, type RunLock } from './run-lock.js';

/**
 * Opening a run directory for `train-det`: make sure it can be written, take its lock (one process per work dir),
 * clear what crashed writes left, and decide what the run continues: a fresh run refuses a dir that already holds
 * a run's checkpoints, a resume refuses settings that would change the saved model or schedule.
 */

/** Files a run appends its records to; a fresh start in a dir without checkpoints begins them anew. */
const RECORD_FILES = ['metrics.jsonl', 'collapse.jsonl'];

export interface RunOpenOptions {
  /** null = fresh start; 'auto' = newest checkpoint of the work dir (fresh when none); else a checkpoint path. */
  resume: string | null;
  evalOnly: boolean;
  /** True when the command line set `solver.maxIter` (it may then change a resumed run's length). */
  maxIterGiven: boolean;
}

export interface OpenRun {
  /** The config to run (a resumed run keeps its saved `solver.maxIter` unless the command line set it). */
  config: Config;
  /** The checkpoint to resume or evaluate, null for a fresh start. */
  checkpoint: string | null;
  /** What was decided, one line each, for the log. */
  notes: string[];
  lock: RunLock;
  /** The work dir's config.json as saved by an earlier run, null when there is none. */
  savedConfig: unknown;
}

/**
 * Creates the work dir, or throws an EnvironmentError saying why it cannot be written (`cannot write work dir X:
 * read-only file system` where mkdir itself reports only ENOENT).
 */
export function ensureWorkDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    let code = errnoCode(err);
    if (code === 'ENOENT') {
      // recursive mkdir under a read-only mount fails with ENOENT: ask the nearest existing ancestor why
      let ancestor = resolve(dir);
      while (!existsSync(ancestor) && dirname(ancestor) !== ancestor) ancestor = dirname(ancestor);
      try {
        accessSync(ancestor, constants.W_OK);
      } catch (inner) {
        code = errnoCode(inner) ?? code;
      }
    }
    if (code === null) throw err;
    throw new EnvironmentError(`cannot write work dir ${dir}: ${describeCode(code)}`, code, dir);
  }
}

/** Parses a JSON file of a run, with errors naming it. */
function readJson(path: string, what: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new InputError(`${path}: cannot read ${what} (${errnoCode(err) ?? (err as Error).message})`);
  }
}

/**
 * The settings a checkpoint was trained with: its run's config.json (`<run>/checkpoints/model_N` -> `<run>`), with
 * the solver fields the checkpoint's state.json recorded on top (they are the truth for that checkpoint).
 */
function savedSettings(checkpoint: string): { settings: Record<string, unknown>; iteration: number } {
  const state = readJson(join(checkpoint, 'state.json'), 'checkpoint state');
  const configPath = join(dirname(dirname(checkpoint)), 'config.json');
  const settings = existsSync(configPath) ? readJson(configPath, 'the run config') : {};
  const schedule = state.schedule;
  if (typeof schedule === 'object' && schedule !== null) {
    settings.solver = { ...(settings.solver as Record<string, unknown> | undefined), ...(schedule as Record<string, unknown>) };
  }
  return { settings, iteration: typeof state.iteration === 'number' ? state.iteration : 0 };
}

/**
 * Opens `config.workDir` for a run: creates it, takes its lock, removes leftovers of interrupted checkpoint writes
 * and decides where the run starts. Refusals are InputErrors (one line, exit 2) and leave the dir as it was.
 */
export function openRunDir(config: Config, options: RunOpenOptions): OpenRun {
  const dir = config.workDir;
  ensureWorkDir(dir);
  const lock = acquireRunLock(dir);
  try {
    return decide(lock);
  } catch (err) {
    lock.release();
    throw err;
  }

  function decide(lock: RunLock): OpenRun {
    const notes: string[] = [];
    const takeover = takeoverLine(lock);
    if (takeover !== null) notes.push(takeover);
    const checkpointsDir = join(dir, 'checkpoints');
    let removed: string[];
    try {
      removed = removeTemporaries(checkpointsDir);
    } catch (err) {
      throw environmentError(err, checkpointsDir, 'clean') ?? err;
    }
    if (removed.length > 0) notes.push(`${checkpointsDir}: removed ${removed.length} unfinished checkpoint write(s) of an earlier attempt (${removed.join(', ')})`);
    const configPath = join(dir, 'config.json');
    const savedConfig = existsSync(configPath) ? readJson(configPath, 'the run config') : null;

    if (options.evalOnly) {
      const checkpoint = resolveResume(options.resume ?? 'auto', checkpointsDir);
      if (checkpoint === null) throw new InputError(`${checkpointsDir}: no checkpoint to evaluate (train first or pass --resume PATH)`);
      const conflicts = modelConflicts(savedSettings(checkpoint).settings, config);
      if (conflicts.length > 0) {
        throw new InputError(`--eval-only: ${checkpoint} holds a different model: ${formatChanges(conflicts)} (drop these settings to evaluate it as trained)`);
      }
      return { config, checkpoint, notes, lock, savedConfig };
    }

    const checkpoint = options.resume === null ? null : resolveResume(options.resume, checkpointsDir);
    if (checkpoint !== null) {
      const { settings, iteration } = savedSettings(checkpoint);
      const plan = planResume(settings, config, iteration, options.maxIterGiven);
      if (plan.conflicts.length > 0) {
        throw new InputError(
          `--resume: ${checkpoint} (iteration ${iteration}) was trained with other settings: ${formatChanges(plan.conflicts)}; ` +
            'a resumed run keeps its model, data and schedule (only solver.maxIter may change, to at least the iteration ' +
            'reached): drop these settings, or start a new run with another --work-dir',
        );
      }
      if (plan.maxIterNote !== null) notes.push(plan.maxIterNote);
      return { config: plan.config, checkpoint, notes, lock, savedConfig };
    }

    const existing = listCheckpoints(checkpointsDir);
    if (options.resume === null && existing.length > 0) {
      throw new InputError(
        `work dir ${dir} already holds a run (checkpoints up to ${existing.at(-1)!.name}): continue it with --resume, ` +
          'or pass another --work-dir for a new run',
      );
    }
    if (options.resume !== null) notes.push(`--resume ${options.resume}: no checkpoint in ${checkpointsDir}, starting fresh`);
    // No checkpoint: records an earlier attempt left cannot be continued; the new run writes its own.
    const stale = RECORD_FILES.filter((f) => existsSync(join(dir, f)));
    if (stale.length > 0) {
      for (const f of stale) {
        try {
          rmSync(join(dir, f), { force: true });
        } catch (err) {
          throw environmentError(err, join(dir, f), 'remove') ?? err;
        }
      }
      notes.push(`${dir}: started a clean record (removed ${stale.join(', ')} of an earlier attempt that wrote no checkpoint)`);
    }
    return { config, checkpoint: null, notes, lock, savedConfig };
  }
}
