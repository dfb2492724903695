import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { inputError } from '../util/errors.js';
import type { CollapseReport, CollapseThresholds, StageCollapse } from './collapse.js';

/** Channels and dead channels over the sites of one kind in a stage. */
export interface SiteKindCount {
  channels: number;
  dead: number;
}

/**
 * The figures of one stage as a log line holds them (site detail and channel indices left out), with the dead
 * channels of norm-fed sites (a norm layer feeds the ReLU) and norm-free sites apart (absent in older logs).
 */
export type CollapseLogStage = Omit<StageCollapse, 'thresholds'> & { bySiteKind?: { normFed: SiteKindCount; normFree: SiteKindCount } };

/** One line of `collapse.jsonl`. */
export interface CollapseLogEntry {
  iteration: number;
  /** Probe images the figures were computed on. */
  images: number;
  thresholds: CollapseThresholds;
  stages: CollapseLogStage[];
  total: CollapseLogStage;
}

/** The log entry for `report` at `iteration`: per-stage figures and the thresholds, once per line. */
export function collapseLogEntry(iteration: number, report: CollapseReport): CollapseLogEntry {
  const strip = ({ thresholds: _t, ...rest }: StageCollapse): CollapseLogStage => {
    const sites = report.sites.filter((s) => rest.stage === 'total' || s.stage === rest.stage);
    const count = (normFed: boolean): SiteKindCount => {
      const kind = sites.filter((s) => s.normFed === normFed);
      return { channels: kind.reduce((a, s) => a + s.channels, 0), dead: kind.reduce((a, s) => a + s.dead, 0) };
    };
    return { ...rest, bySiteKind: { normFed: count(true), normFree: count(false) } };
  };
  return {
    iteration,
    images: report.images,
    thresholds: { ...report.thresholds },
    stages: report.stages.map(strip),
    total: strip(report.total),
  };
}

/** Appends one JSON object (one line) to `path` (normally `<workDir>/collapse.jsonl`), creating the directory. */
export function appendCollapseLog(path: string, iteration: number, report: CollapseReport): CollapseLogEntry {
  const entry = collapseLogEntry(iteration, report);
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, `${JSON.stringify(entry)}\n`);
  return entry;
}

/**
 * Reads `collapse.jsonl` back, in file order. A missing file is an empty log. A line that is not a log entry is an
 * InputError naming the file, the line (1-based, as `index`) and the field. A final line without its newline (a run
 * killed mid-write) is skipped when it does not parse.
 */
export function readCollapseLog(path: string): CollapseLogEntry[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const entries: CollapseLogEntry[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      if (i === lines.length - 1) return; // torn last line
      throw inputError(path, 'not valid JSON', { index: i + 1 });
    }
    entries.push(checkEntry(value, path, i + 1));
  });
  return entries;
}

function checkEntry(value: unknown, file: string, line: number): CollapseLogEntry {
  const fail = (field: string, message: string): never => {
    throw inputError(file, message, { index: line, field });
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('(line)', 'must be a JSON object');
  const entry = value as Record<string, unknown>;
  if (typeof entry.iteration !== 'number' || !Number.isInteger(entry.iteration) || entry.iteration < 0) {
    fail('iteration', 'must be a non-negative integer');
  }
  if (typeof entry.images !== 'number') fail('images', 'must be a number');
  const t = entry.thresholds as Record<string, unknown> | undefined;
  if (typeof t !== 'object' || t === null || typeof t.deadThreshold !== 'number' || typeof t.gammaThreshold !== 'number') {
    fail('thresholds', 'must hold deadThreshold and gammaThreshold numbers');
  }
  if (!Array.isArray(entry.stages)) fail('stages', 'must be an array');
  (entry.stages as unknown[]).forEach((s, k) => checkStage(s, `stages[${k}]`, fail));
  checkStage(entry.total, 'total', fail);
  return value as CollapseLogEntry;
}

function checkStage(value: unknown, field: string, fail: (field: string, message: string) => never): void {
  if (typeof value !== 'object' || value === null) fail(field, 'must be an object');
  const s = value as Record<string, unknown>;
  if (typeof s.stage !== 'string') fail(`${field}.stage`, 'must be a string');
  for (const key of ['channels', 'dead', 'deadRatio']) {
    if (typeof s[key] !== 'number') fail(`${field}.${key}`, 'must be a number');
  }
}

/**
 * The entries of the latest attempt when a run was restarted into the same file: whenever the iteration goes back,
 * the earlier entries at or past it are dropped (they belong to an attempt that was thrown away).
 */
export function latestAttempt(entries: CollapseLogEntry[]): CollapseLogEntry[] {
  const kept: CollapseLogEntry[] = [];
  for (const entry of entries) {
    while (kept.length > 0 && kept[kept.length - 1]!.iteration >= entry.iteration) kept.pop();
    kept.push(entry);
  }
  return kept;
}
