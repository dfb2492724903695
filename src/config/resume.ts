import type { Config } from './types.js';

/**
 * What a resumed run may change. A resumed run continues the saved one: its model, its data stream and its schedule
 * are fixed, or the checkpoint would be trained on as a different network (and `config.json`, which evaluation
 * builds the model from, would describe the wrong one). Free to change: where things are and how often the run
 * reports, evaluates and checkpoints, the evaluation-only settings, and `solver.maxIter` when it is given
 * explicitly.
 */
const FREE_ON_RESUME: readonly string[] = [
  'name',
  'backend',
  'workDir',
  'data.root',
  'data.valSplit',
  'data.valLimit',
  'data.skipBadImages',
  'data.prefetch',
  'data.workers',
  'model.pretrainedBackbone',
  'model.scoreThreshold',
  'model.topkCandidates',
  'model.nmsThreshold',
  'model.detectionsPerImage',
  'input.testMinSize',
  'train.',
  'collapse.',
];

/** The fields that define the network a checkpoint holds (what `--eval-only` must agree on). */
const MODEL_FIELDS: readonly string[] = ['model.', 'input.pixelMean', 'input.pixelStd'];

export interface FieldChange {
  field: string;
  saved: unknown;
  now: unknown;
}

export interface ResumePlan {
  /** The config to run: the resolved one with `solver.maxIter` as decided below. */
  config: Config;
  /** Fields that may not change on a resume; the caller refuses when non-empty. */
  conflicts: FieldChange[];
  /** What was decided about `solver.maxIter`, for the log (null when it did not change). */
  maxIterNote: string | null;
}

const matches = (field: string, patterns: readonly string[]): boolean =>
  patterns.some((p) => (p.endsWith('.') ? field.startsWith(p) : field === p));

/**
 * Leaf fields (dotted paths) whose values differ between a saved config and the current one. Fields the saved
 * config lacks (written by an older version) are not compared; arrays compare as a whole.
 */
export function changedFields(saved: unknown, now: unknown, prefix = ''): FieldChange[] {
  if (!isObject(saved) || !isObject(now)) {
    return JSON.stringify(saved) === JSON.stringify(now) ? [] : [{ field: prefix, saved, now }];
  }
  const out: FieldChange[] = [];
  for (const [key, value] of Object.entries(saved)) {
    if (!(key in now)) continue;
    out.push(...changedFields(value, now[key], prefix ? `${prefix}.${key}` : key));
  }
  return out;
}

/**
 * Decides how a resume at `iteration` of a run saved as `saved` (its config.json, or only its checkpoint's
 * schedule) goes on with the resolved `config`. `maxIterGiven` is true when the command line set `solver.maxIter`:
 * then it replaces the saved value (it must not be below `iteration`); otherwise the saved schedule's length is
 * kept whatever the config file says.
 */
export function planResume(saved: unknown, config: Config, iteration: number, maxIterGiven: boolean): ResumePlan {
  const changes = changedFields(saved, config);
  const conflicts = changes.filter((c) => c.field !== 'solver.maxIter' && !matches(c.field, FREE_ON_RESUME));
  const savedMaxIter = changes.find((c) => c.field === 'solver.maxIter')?.saved;
  let maxIterNote: string | null = null;
  const planned: Config = { ...config, solver: { ...config.solver } };
  if (typeof savedMaxIter === 'number') {
    if (maxIterGiven) {
      if (config.solver.maxIter < iteration) {
        conflicts.push({ field: 'solver.maxIter', saved: savedMaxIter, now: config.solver.maxIter });
      } else {
        maxIterNote = `solver.maxIter ${savedMaxIter} -> ${config.solver.maxIter} (set on the command line)`;
      }
    } else {
      planned.solver.maxIter = savedMaxIter;
      maxIterNote =
        `solver.maxIter stays ${savedMaxIter} as saved (the config says ${config.solver.maxIter}; ` +
        `--max-iter N or --set solver.maxIter=N changes it)`;
    }
  }
  return { config: planned, conflicts, maxIterNote };
}

/** Changes of the fields that define the network (for `--eval-only` on a saved run). */
export function modelConflicts(saved: unknown, config: Config): FieldChange[] {
  return changedFields(saved, config).filter((c) => matches(c.field, MODEL_FIELDS) && !matches(c.field, FREE_ON_RESUME));
}

/** `model.norm "psbn" -> "bn", solver.batchSize 2 -> 4`. */
export function formatChanges(changes: readonly FieldChange[]): string {
  return changes.map((c) => `${c.field} ${JSON.stringify(c.saved)} -> ${JSON.stringify(c.now)}`).join(', ');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
