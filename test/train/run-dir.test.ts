import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/types.js';
import { saveCheckpoint, type TrainingState } from '../../src/train/checkpoint.js';
import { Optimizer } from '../../src/train/optimizer.js';
import { ensureWorkDir, openRunDir, type RunOpenOptions } from '../../src/train/run-dir.js';
import { EnvironmentError } from '../../src/util/env-errors.js';
import { mountTmpfs, type Mount } from './faults.js';
import { ToyNet } from './toy.js';

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'psdet-rundir-'));

function config(workDir: string, change: (c: Config) => void = () => undefined): Config {
  const c = { ...defaultConfig(), workDir };
  c.solver = { ...c.solver, maxIter: 40, batchSize: 2 };
  change(c);
  return c;
}

const fresh: RunOpenOptions = { resume: null, evalOnly: false, maxIterGiven: false };
const resume: RunOpenOptions = { resume: 'auto', evalOnly: false, maxIterGiven: false };

/** A work dir as train-det leaves it: config.json and a checkpoint at `iteration`. */
async function savedRun(c: Config, iteration: number): Promise<void> {
  mkdirSync(c.workDir, { recursive: true });
  writeFileSync(join(c.workDir, 'config.json'), JSON.stringify(c));
  writeFileSync(join(c.workDir, 'metrics.jsonl'), '{"type":"train","iteration":1}\n');
  const net = new ToyNet(1);
  const opt = new Optimizer(net.params(), c.solver);
  const { baseLr, batchSize, maxIter, steps, warmupIters } = c.solver;
  const state: TrainingState = { iteration, rng: [1, 2, 3, 4], loader: {}, schedule: { baseLr, batchSize, maxIter, steps, warmupIters } };
  await saveCheckpoint(join(c.workDir, 'checkpoints'), net, opt, state, 3);
  opt.dispose();
  net.dispose();
}

function open(c: Config, options: RunOpenOptions): ReturnType<typeof openRunDir> {
  const run = openRunDir(c, options);
  run.lock.release();
  return run;
}

describe('opening a run directory', () => {
  it('a fresh run into a dir that holds a run is refused (nothing touched); --resume continues it', async () => {
    const dir = join(tempDir(), 'run');
    await savedRun(config(dir), 20);
    expect(() => openRunDir(config(dir), fresh)).toThrow(
      `work dir ${dir} already holds a run (checkpoints up to model_0000020): continue it with --resume, or pass another --work-dir for a new run`,
    );
    expect(existsSync(join(dir, 'train.lock'))).toBe(false); // the refusal released the lock
    expect(existsSync(join(dir, 'metrics.jsonl'))).toBe(true);
    const run = open(config(dir), resume);
    expect(run.checkpoint).toBe(join(dir, 'checkpoints', 'model_0000020'));
    expect(run.notes).toEqual([]);
  });

  it('a fresh start where an earlier attempt wrote records but no checkpoint begins a clean record, and says so', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'metrics.jsonl'), '{"type":"train","iteration":1}\n');
    const run = open(config(dir), fresh);
    expect(run.checkpoint).toBeNull();
    expect(run.notes).toEqual([`${dir}: started a clean record (removed metrics.jsonl of an earlier attempt that wrote no checkpoint)`]);
    expect(existsSync(join(dir, 'metrics.jsonl'))).toBe(false);
    expect(open(config(dir), resume).notes).toEqual([`--resume auto: no checkpoint in ${join(dir, 'checkpoints')}, starting fresh`]);
  });

  it('--resume refuses settings that change the model or the schedule, naming each field with both values', async () => {
    const dir = tempDir();
    await savedRun(config(dir), 20);
    const changed = config(dir, (c) => {
      c.model = { ...c.model, norm: 'psbn' };
      c.solver = { ...c.solver, batchSize: 4, steps: [30] };
    });
    expect(() => openRunDir(changed, resume)).toThrow(
      `--resume: ${join(dir, 'checkpoints', 'model_0000020')} (iteration 20) was trained with other settings: ` +
        'model.norm "frozen_bn" -> "psbn", solver.batchSize 2 -> 4, solver.steps [60000,80000] -> [30]; a resumed run keeps',
    );
    // where things are and how often the run reports may change
    const free = config(dir, (c) => {
      c.data = { ...c.data, root: '/elsewhere', workers: 0 };
      c.train = { ...c.train, logPeriod: 5, evalPeriod: 10 };
      c.backend = 'cpu';
    });
    expect(open(free, resume).checkpoint).toBe(join(dir, 'checkpoints', 'model_0000020'));
  });

  it('--resume keeps the saved solver.maxIter unless the command line sets it (not below the iteration reached)', async () => {
    const dir = tempDir();
    await savedRun(config(dir), 20); // a run made with maxIter 40
    const configSays400 = config(dir, (c) => (c.solver = { ...c.solver, maxIter: 400 }));
    const kept = open(configSays400, resume);
    expect(kept.config.solver.maxIter).toBe(40);
    expect(kept.notes).toEqual(['solver.maxIter stays 40 as saved (the config says 400; --max-iter N or --set solver.maxIter=N changes it)']);
    const extended = open(configSays400, { ...resume, maxIterGiven: true });
    expect(extended.config.solver.maxIter).toBe(400);
    expect(extended.notes).toEqual(['solver.maxIter 40 -> 400 (set on the command line)']);
    const tooShort = config(dir, (c) => (c.solver = { ...c.solver, maxIter: 10 }));
    expect(() => openRunDir(tooShort, { ...resume, maxIterGiven: true })).toThrow('solver.maxIter 40 -> 10; a resumed run keeps');
  });

  it('the checkpoint state is the truth for the schedule, even where config.json was overwritten', async () => {
    const dir = tempDir();
    await savedRun(config(dir), 20);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config(dir, (c) => (c.solver = { ...c.solver, batchSize: 8 }))));
    expect(() => openRunDir(config(dir, (c) => (c.solver = { ...c.solver, batchSize: 8 })), resume)).toThrow('solver.batchSize 2 -> 8');
  });

  it('--eval-only refuses a different model but takes other evaluation settings', async () => {
    const dir = tempDir();
    await savedRun(config(dir), 20);
    const evalOnly: RunOpenOptions = { resume: null, evalOnly: true, maxIterGiven: false };
    expect(() => openRunDir(config(dir, (c) => (c.model = { ...c.model, depth: 18 })), evalOnly)).toThrow(
      `--eval-only: ${join(dir, 'checkpoints', 'model_0000020')} holds a different model: model.depth 50 -> 18`,
    );
    const other = config(dir, (c) => (c.data = { ...c.data, valSplit: 'train2017', valLimit: 4 }));
    expect(open(other, evalOnly).checkpoint).toBe(join(dir, 'checkpoints', 'model_0000020'));
    expect(() => open(config(tempDir()), evalOnly)).toThrow('no checkpoint to evaluate');
  });

  it('removes what interrupted checkpoint writes of earlier attempts left, and says so', async () => {
    const dir = tempDir();
    await savedRun(config(dir), 20);
    mkdirSync(join(dir, 'checkpoints', '.tmp-model_0000030-99999'));
    writeFileSync(join(dir, 'checkpoints', '.tmp-last-99999'), 'model_0000030\n');
    const run = open(config(dir), resume);
    expect(run.notes).toEqual([
      `${join(dir, 'checkpoints')}: removed 2 unfinished checkpoint write(s) of an earlier attempt (.tmp-last-99999, .tmp-model_0000030-99999)`,
    ]);
    expect(readdirSync(join(dir, 'checkpoints')).sort()).toEqual(['last', 'model_0000020']);
  });

  it('a work dir under a regular file: one EnvironmentError naming the dir', () => {
    const file = join(tempDir(), 'file');
    writeFileSync(file, '');
    const error = (() => {
      try {
        ensureWorkDir(join(file, 'run'));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(EnvironmentError);
    expect(error).toMatchObject({ code: 'ENOTDIR', message: `cannot write work dir ${join(file, 'run')}: a parent is not a directory` });
  });

  const ro = mountTmpfs(256, true);
  afterAll(() => typeof ro !== 'string' && ro.unmount());
  it.skipIf(typeof ro === 'string')(
    `a read-only work dir (tmpfs remounted ro) says "read-only file system", not ENOENT mkdir${typeof ro === 'string' ? ` (skipped: ${ro})` : ''}`,
    () => {
      const { dir } = ro as Mount;
      expect(() => ensureWorkDir(join(dir, 'a', 'run'))).toThrow(`cannot write work dir ${join(dir, 'a', 'run')}: read-only file system`);
      expect(() => ensureWorkDir(dir)).toThrow(`cannot write work dir ${dir}: read-only file system`);
    },
  );
});
