/**
 * "The run the user just made": each `train-det` start records its work dir in `<parent>/<name>.last` (parent:
 * the directory default work dirs go in, `work_dirs/`), so a later `train-det --resume` or `--eval-only` that
 * names no run (no --work-dir, no --norm, no workDir in the config) continues that run, with that run's
 * config.json, instead of the default `work_dirs/<name>-bn`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The pointer file of config `name` beside the default work dir `defaultWorkDir` (work_dirs/<name>-<norm>). */
export function lastRunPointer(defaultWorkDir: string, name: string): string {
  return join(dirname(defaultWorkDir), `${name}.last`);
}

/** Records `workDir` as the latest run of config `name`. */
export function recordLastRun(defaultWorkDir: string, name: string, workDir: string): void {
  const pointer = lastRunPointer(defaultWorkDir, name);
  mkdirSync(dirname(pointer), { recursive: true });
  writeFileSync(pointer, `${workDir}\n`);
}

/** The work dir of the latest run of config `name` when it still holds its config.json, else null. */
export function findLastRun(defaultWorkDir: string, name: string): string | null {
  const pointer = lastRunPointer(defaultWorkDir, name);
  if (!existsSync(pointer)) return null;
  const workDir = readFileSync(pointer, 'utf8').trim();
  return workDir !== '' && existsSync(join(workDir, 'config.json')) ? workDir : null;
}
