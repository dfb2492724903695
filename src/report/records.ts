/**
 * What a run's work dir says about it, read back from disk: the training and evaluation records of
 * `metrics.jsonl`, the collapse entries of `collapse.jsonl`, the resolved `config.json`, the environment lines of
 * `log.txt`. Reading only; a record that does not parse is skipped only when it is a torn last line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { latestAttempt, readCollapseLog, type CollapseLogEntry } from '../analysis/collapse-log.js';
import { inputError } from '../util/errors.js';

/**
 * One `{"type":"train"}` line of metrics.jsonl (the trainer's TrainLogRecord; the fields the curves use):
 * means over one log period.
 */
export interface TrainLogRecord {
  type: 'train';
  iteration: number;
  lr: number;
  /** Seconds per iteration: total, waiting for data, forward + backward, optimizer. */
  time: number;
  dataTime: number;
  forwardBackwardTime: number;
  optimizerTime: number;
  /** Loss terms (`loss_cls`, `loss_box`) and their sum `loss`. */
  losses: Record<string, number>;
  gradNorm: number;
}

/** One evaluation: the iteration it ran at and the 12 COCO stats by name (AP, AP50, ..., 0..1). */
export interface EvalRecord {
  iteration: number;
  stats: Record<string, number>;
}

/** One line of `per_class.jsonl`: AP@[.5:.95] per class name (0..1, -1 without ground truth) at an evaluation. */
export interface PerClassRecord {
  iteration: number;
  ap: Record<string, number>;
}

/** Where the report writer keeps AP per class at each evaluation (metrics.jsonl holds the 12 overall stats). */
export const PER_CLASS_FILE = 'per_class.jsonl';

export interface RunRecords {
  train: TrainLogRecord[];
  evals: EvalRecord[];
  collapse: CollapseLogEntry[];
  perClass: PerClassRecord[];
}

/** Reads `<workDir>/metrics.jsonl` and `<workDir>/collapse.jsonl` (missing files are empty logs). */
export function readRunRecords(workDir: string): RunRecords {
  const { train, evals } = readMetricsLog(join(workDir, 'metrics.jsonl'));
  return { train, evals, collapse: latestAttempt(readCollapseLog(join(workDir, 'collapse.jsonl'))), perClass: readPerClassLog(join(workDir, PER_CLASS_FILE)) };
}

/** Reads `per_class.jsonl` (a missing file is empty; the latest attempt is kept, as for metrics.jsonl). */
export function readPerClassLog(path: string): PerClassRecord[] {
  const records: PerClassRecord[] = [];
  if (!existsSync(path)) return records;
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: PerClassRecord;
    try {
      value = JSON.parse(line) as PerClassRecord;
    } catch {
      if (i === lines.length - 1) return;
      throw inputError(path, 'not valid JSON', { index: i + 1 });
    }
    if (typeof value.iteration !== 'number' || typeof value.ap !== 'object' || value.ap === null) throw inputError(path, 'must hold iteration and ap', { index: i + 1 });
    keepLatest(records, value);
  });
  return records;
}

/**
 * Parses a `metrics.jsonl`: `{"type":"train",...}` lines are iteration records, `{"type":"eval","iteration":N,
 * "AP":...}` lines evaluations. When a restarted run went back in iterations, only the latest attempt is kept.
 */
export function readMetricsLog(path: string): { train: TrainLogRecord[]; evals: EvalRecord[] } {
  const train: TrainLogRecord[] = [];
  const evals: EvalRecord[] = [];
  if (!existsSync(path)) return { train, evals };
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line) as Record<string, unknown>;
    } catch {
      if (i === lines.length - 1) return; // a run killed mid-write
      throw inputError(path, 'not valid JSON', { index: i + 1 });
    }
    if (typeof value.iteration !== 'number') throw inputError(path, 'must be a number', { index: i + 1, field: 'iteration' });
    if (value.type === 'train') {
      keepLatest(train, value as unknown as TrainLogRecord);
    } else if (value.type === 'eval') {
      const { type: _t, iteration, ...stats } = value;
      keepLatest(evals, { iteration: iteration as number, stats: stats as Record<string, number> });
    }
  });
  return { train, evals };
}

function keepLatest<T extends { iteration: number }>(list: T[], item: T): void {
  while (list.length > 0 && list[list.length - 1]!.iteration >= item.iteration) list.pop();
  list.push(item);
}

/** `<workDir>/config.json` as written by train-det, or null when absent. */
export function readRunConfig(workDir: string): Record<string, unknown> | null {
  const path = join(workDir, 'config.json');
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    throw inputError(path, 'not valid JSON');
  }
}

/** The environment lines of `<workDir>/log.txt` (node, cpu, tfjs-core and backend), the latest start's. */
export function readEnvironmentLines(workDir: string): string[] {
  const path = join(workDir, 'log.txt');
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const start = lines.map((l, i) => (l.startsWith('command: ') ? i : -1)).filter((i) => i >= 0).pop() ?? 0;
  return lines.slice(start).filter((l) => /^(command|date|node|cpu|tfjs-core|backend skipped): /.test(l));
}
