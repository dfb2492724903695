import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findLastRun, lastRunPointer, recordLastRun } from '../../src/cli/last-run.js';
import { parseTrainArgs, resolveTrainConfig } from '../../src/cli/train-args.js';
import { ROOT } from '../helpers.js';

/** `train-det ARGS --print-config` run in `cwd` (where its relative work_dirs/ lives); the printed config. */
function printedConfig(cwd: string, args: string[]): { workDir: string; model: { norm: string }; solver: { maxIter: number } } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
  const tsx = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
  const r = spawnSync(process.execPath, ['--import', tsx, join(ROOT, 'src/cli/train-det.ts'), ...args, '--print-config'], { cwd, env, encoding: 'utf8', timeout: 120_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
}

describe('the last run of a config', () => {
  it('records and finds a work dir that holds its config.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'psdet-last-'));
    const def = join(dir, 'work_dirs', 'tiny-bn');
    expect(lastRunPointer(def, 'tiny')).toBe(join(dir, 'work_dirs', 'tiny.last'));
    expect(findLastRun(def, 'tiny')).toBeNull();
    const run = join(dir, 'work_dirs', 'tiny-psbn');
    recordLastRun(def, 'tiny', run);
    // no config.json yet: not a run to resume
    expect(findLastRun(def, 'tiny')).toBeNull();
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, 'config.json'), '{}');
    expect(findLastRun(def, 'tiny')).toBe(run);
  });

  it('train-det --norm psbn, then --resume / --eval-only act on the psbn run with its config; --norm or --work-dir choose another', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'psdet-last-cli-'));
    // what `train-det --norm psbn --max-iter 30` leaves: its config.json and the pointer
    const psbn = resolveTrainConfig(parseTrainArgs(['--norm', 'psbn', '--max-iter', '30']));
    const runDir = join(cwd, psbn.workDir);
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, 'config.json'), JSON.stringify({ ...psbn, workDir: psbn.workDir }));
    recordLastRun(join(cwd, 'work_dirs', 'x'), psbn.name, psbn.workDir);

    expect(printedConfig(cwd, ['--resume'])).toMatchObject({ workDir: 'work_dirs/retinanet_r18_tiny_shapes-psbn', model: { norm: 'psbn' }, solver: { maxIter: 30 } });
    expect(printedConfig(cwd, ['--eval-only'])).toMatchObject({ model: { norm: 'psbn' } });
    // flags still apply on top (extend the run)
    expect(printedConfig(cwd, ['--resume', '--max-iter', '60'])).toMatchObject({ model: { norm: 'psbn' }, solver: { maxIter: 60 } });
    // a fresh start and an explicit choice are not redirected
    expect(printedConfig(cwd, [])).toMatchObject({ workDir: 'work_dirs/retinanet_r18_tiny_shapes-bn', model: { norm: 'bn' } });
    expect(printedConfig(cwd, ['--resume', '--norm', 'bn'])).toMatchObject({ workDir: 'work_dirs/retinanet_r18_tiny_shapes-bn', model: { norm: 'bn' } });
    expect(printedConfig(cwd, ['--resume', '--work-dir', 'elsewhere'])).toMatchObject({ workDir: 'elsewhere', model: { norm: 'bn' } });
    // --resume PATH (here checkpoints/last, the pointer file): the run it belongs to, with its config
    mkdirSync(join(runDir, 'checkpoints', 'model_0000010'), { recursive: true });
    writeFileSync(join(runDir, 'checkpoints', 'last'), 'model_0000010\n');
    const other = mkdtempSync(join(tmpdir(), 'psdet-last-other-'));
    expect(printedConfig(other, ['--resume', join(runDir, 'checkpoints', 'last')])).toMatchObject({ workDir: runDir, model: { norm: 'psbn' } });
    expect(parseTrainArgs(['--resume', join(runDir, 'checkpoints', 'last')]).resume).toBe(join(runDir, 'checkpoints'));
  }, 300_000);
});
