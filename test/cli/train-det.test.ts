import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/cli/train-args.js';
import { ROOT } from '../helpers.js';
import { FAULTS_PRELOAD, faultEnv, mountTmpfs, type FsFault, type Mount } from '../train/faults.js';

/** A very small run of the default config on the shapes set: 64 px, batch 2, a 4-image val subset, cpu backend. */
const SMALL = [
  '--backend', 'cpu',
  '--batch-size', '2',
  '--set', 'input.trainMinSizes=[64]', 'input.testMinSize=64', 'input.maxSize=64', 'model.widthMultiplier=0.125',
  'model.fpnChannels=16', 'model.headChannels=16', 'model.headDepth=1', 'data.valLimit=2', 'collapse.probeImages=1',
  'solver.warmupIters=0', 'train.logPeriod=1', 'train.checkpointPeriod=1000', 'train.collapsePeriod=0', 'train.evalPeriod=0',
  '--no-progress',
];

interface Child {
  pid: number;
  code: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
  waitFor: (text: string) => Promise<void>;
  kill: (signal: NodeJS.Signals) => void;
}

/** train-det in a child process; `fault` injects a file-system fault (test/train/fixtures/fs-faults.mjs). */
function trainDet(args: string[], fault?: FsFault): Child {
  const preload = fault === undefined ? [] : ['--import', FAULTS_PRELOAD];
  const child = spawn(process.execPath, ['--import', 'tsx', ...preload, join(ROOT, 'src/cli/train-det.ts'), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // a plain process, as a user runs it (no vitest markers: they change how tfjs-core's gradients load)
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST'))),
      ...(fault === undefined ? {} : faultEnv(fault)),
    },
  });
  let out = '';
  let err = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.filter((w) => out.includes(w.text))) w.resolve();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return {
    pid: child.pid!,
    code,
    stdout: () => out,
    stderr: () => err,
    waitFor: (text) =>
      new Promise<void>((resolve, reject) => {
        if (out.includes(text)) return resolve();
        waiters.push({ text, resolve });
        void code.then(() => reject(new Error(`exited before "${text}":\n${out}\n${err}`)));
      }),
    kill: (signal) => child.kill(signal),
  };
}

describe('train-det (child process)', () => {
  it('exits 2 with one line on bad input', async () => {
    const bad = trainDet(['--set', 'solver.lr=1']);
    expect(await bad.code).toBe(2);
    expect(bad.stderr()).toBe('train-det: command line: unknown field "solver.lr"\n');
    const badNorm = trainDet(['--norm', 'gn']);
    expect(await badNorm.code).toBe(2);
    expect(badNorm.stderr().trim().split('\n')).toHaveLength(1);
    expect(badNorm.stderr()).toContain("option '--norm <kind>' argument 'gn' is invalid");
    const badLr = trainDet(['--lr', '-1']);
    expect(await badLr.code).toBe(2);
    expect(badLr.stderr()).toBe('train-det: command line: field "solver.baseLr" must be positive, got -1\n');
  });

  it('SIGINT finishes the step, writes a checkpoint and exits 130; --resume continues from it', async () => {
    const workDir = mkdtempSync(join(tmpdir(), 'psdet-cli-'));
    const run = trainDet([...SMALL, '--norm', 'psbn', '--work-dir', workDir, '--max-iter', '1000']);
    await run.waitFor('iter 2/1000');
    run.kill('SIGINT');
    expect(await run.code).toBe(130);
    const stoppedAt = Number(/stopped at iteration (\d+)/.exec(run.stdout())?.[1]);
    expect(stoppedAt).toBeGreaterThanOrEqual(2);
    const name = `model_${String(stoppedAt).padStart(7, '0')}`;
    expect(readFileSync(join(workDir, 'checkpoints', 'last'), 'utf8').trim()).toBe(name);
    const state = JSON.parse(readFileSync(join(workDir, 'checkpoints', name, 'state.json'), 'utf8')) as { iteration: number };
    expect(state.iteration).toBe(stoppedAt);
    // the work dir holds the resolved config and the log with the environment
    const config = JSON.parse(readFileSync(join(workDir, 'config.json'), 'utf8')) as { model: { norm: string }; solver: { batchSize: number } };
    expect([config.model.norm, config.solver.batchSize]).toEqual(['psbn', 2]);
    expect(readFileSync(join(workDir, 'log.txt'), 'utf8')).toMatch(/backend: cpu/);
    // psbnAlpha is printed for psBN runs only
    expect(run.stdout()).toMatch(/^norm: psbn, .*, psbnAlpha: 0\.1$/m);
    // and what the layers do, read back from them: frozen stage 1 takes the stem's norm out
    expect(run.stdout()).toMatch(/^backbone norms as built: 20 psbn; batch statistics in training: 19 of 20; gamma\/beta trained: 19 of 20$/m);

    const resumed = trainDet([...SMALL, '--norm', 'psbn', '--work-dir', workDir, '--max-iter', String(stoppedAt + 1), '--resume']);
    expect(await resumed.code).toBe(0);
    expect(resumed.stdout()).toContain(`resumed from ${join(workDir, 'checkpoints', name)} at iteration ${stoppedAt}`);
    expect(resumed.stdout()).toContain(`iter ${stoppedAt + 1}/${stoppedAt + 1}`);
    expect(resumed.stdout()).toMatch(/mAP \d+\.\d  AP50 \d+\.\d/);
    const metrics = readFileSync(join(workDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; iteration: number });
    expect(metrics.filter((m) => m.type === 'train').map((m) => m.iteration)).toEqual(
      Array.from({ length: stoppedAt + 1 }, (_, i) => i + 1),
    );
    expect(metrics.at(-1)).toMatchObject({ type: 'eval', iteration: stoppedAt + 1 });
    expect(existsSync(join(workDir, 'eval', `results_iter${stoppedAt + 1}.json`))).toBe(true);
  });

  it('one process per work dir: a second train-det is refused while the first runs, which is not disturbed', async () => {
    const workDir = mkdtempSync(join(tmpdir(), 'psdet-cli-'));
    const first = trainDet([...SMALL, '--norm', 'psbn', '--work-dir', workDir, '--max-iter', '1000']);
    await first.waitFor('iter 1/1000');
    const second = trainDet([...SMALL, '--norm', 'bn', '--work-dir', workDir, '--max-iter', '5']);
    expect(await second.code).toBe(2);
    expect(second.stderr()).toMatch(
      new RegExp(`^train-det: work dir ${workDir} is in use by another train-det \\(pid ${first.pid}, since \\S+; ${join(workDir, 'train.lock')}\\): wait for it to finish or pass another --work-dir\\n$`),
    );
    expect(second.stdout()).toBe('');
    const config = JSON.parse(readFileSync(join(workDir, 'config.json'), 'utf8')) as { model: { norm: string } };
    expect(config.model.norm).toBe('psbn'); // the first run's config, not overwritten
    first.kill('SIGINT');
    expect(await first.code).toBe(130);
    expect(existsSync(join(workDir, 'train.lock'))).toBe(false); // released on exit
    expect(readFileSync(join(workDir, 'log.txt'), 'utf8')).not.toContain('norm: bn');
  });

  it("a finished run's dir: a fresh run is refused; --resume continues its config.json, refuses a changed model or schedule and keeps the saved length unless --max-iter extends it", async () => {
    const workDir = mkdtempSync(join(tmpdir(), 'psdet-cli-'));
    const done = trainDet([...SMALL, '--norm', 'psbn', '--work-dir', workDir, '--max-iter', '2']);
    expect(await done.code).toBe(0);

    const again = trainDet([...SMALL, '--norm', 'psbn', '--work-dir', workDir, '--max-iter', '2']);
    expect(await again.code).toBe(2);
    expect(again.stderr()).toBe(
      `train-det: work dir ${workDir} already holds a run (checkpoints up to model_0000002): continue it with --resume, or pass another --work-dir for a new run\n`,
    );

    // without CONFIG, --resume runs the work dir's config.json: only what the flags change is compared
    const changed = trainDet(['--work-dir', workDir, '--resume', '--norm', 'bn', '--batch-size', '4', '--no-progress']);
    expect(await changed.code).toBe(2);
    expect(changed.stderr().split('\n')).toHaveLength(2); // one line and its newline
    expect(changed.stderr()).toContain('(iteration 2) was trained with other settings: model.norm "psbn" -> "bn", solver.batchSize 2 -> 4;');
    expect((JSON.parse(readFileSync(join(workDir, 'config.json'), 'utf8')) as { model: { norm: string } }).model.norm).toBe('psbn');

    // named explicitly, the default config says maxIter 400; the run was made with --max-iter 2 and stays at 2
    const kept = trainDet([DEFAULT_CONFIG, ...SMALL, '--norm', 'psbn', '--work-dir', workDir, '--resume']);
    expect(await kept.code).toBe(0);
    expect(kept.stdout()).toContain('solver.maxIter stays 2 as saved (the config says 400; --max-iter N or --set solver.maxIter=N changes it)');
    expect(kept.stdout()).not.toContain('iter 3/');

    const extended = trainDet(['--work-dir', workDir, '--resume', '--max-iter', '3', '--no-progress']);
    expect(await extended.code).toBe(0);
    expect(extended.stdout()).toContain('solver.maxIter 2 -> 3 (set on the command line)');
    expect(extended.stdout()).toContain('iter 3/3');
    expect((JSON.parse(readFileSync(join(workDir, 'config.json'), 'utf8')) as { solver: { maxIter: number } }).solver.maxIter).toBe(3);
  });

  it('a full disk while checkpointing (ENOSPC injected on the second checkpoint): one line, exit 2, the first checkpoint intact, no temp files', async () => {
    const workDir = mkdtempSync(join(tmpdir(), 'psdet-cli-'));
    const run = trainDet([...SMALL, '--work-dir', workDir, '--max-iter', '3', '--set', 'train.checkpointPeriod=1'], {
      code: 'ENOSPC',
      path: 'model_0000002',
      mode: 'write',
    });
    expect(await run.code).toBe(2);
    expect(run.stderr()).toBe(
      `train-det: cannot write ${join(workDir, 'checkpoints', 'model_0000002')}: no space left on device ` +
        '(checkpoint at iteration 2 not written; last complete checkpoint: model_0000001)\n',
    );
    expect(readdirSync(join(workDir, 'checkpoints')).sort()).toEqual(['last', 'model_0000001']);
    expect(existsSync(join(workDir, 'train.lock'))).toBe(false);
  });

  it('a read-only work dir (EROFS injected): "cannot write work dir X: read-only file system", exit 2', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'psdet-cli-'));
    const run = trainDet([...SMALL, '--work-dir', join(parent, 'run')], { code: 'EROFS', path: parent, mode: 'readonly' });
    expect(await run.code).toBe(2);
    expect(run.stderr()).toBe(`train-det: cannot write work dir ${join(parent, 'run')}: read-only file system\n`);
  });

  const disk = mountTmpfs(4096); // room for one 2.4 MiB checkpoint of the SMALL model, not two
  const readOnly = mountTmpfs(256, true);
  afterAll(() => {
    if (typeof disk !== 'string') disk.unmount();
    if (typeof readOnly !== 'string') readOnly.unmount();
  });
  const skipped = (m: Mount | string): string => (typeof m === 'string' ? ` (skipped: ${m})` : '');

  it.skipIf(typeof disk === 'string')(`a real full disk (a 4 MiB tmpfs): one line, exit 2, the first checkpoint intact${skipped(disk)}`, async () => {
    const workDir = join((disk as Mount).dir, 'run');
    const run = trainDet([...SMALL, '--work-dir', workDir, '--max-iter', '3', '--set', 'train.checkpointPeriod=1']);
    expect(await run.code).toBe(2);
    expect(run.stderr()).toMatch(/^train-det: cannot write \S+: no space left on device[^\n]*\n$/);
    expect(readdirSync(join(workDir, 'checkpoints')).sort()).toEqual(['last', 'model_0000001']);
  });

  it.skipIf(typeof readOnly === 'string')(`a real read-only work dir (tmpfs mounted ro): one line, exit 2${skipped(readOnly)}`, async () => {
    const workDir = join((readOnly as Mount).dir, 'run');
    const run = trainDet([...SMALL, '--work-dir', workDir]);
    expect(await run.code).toBe(2);
    expect(run.stderr()).toBe(`train-det: cannot write work dir ${workDir}: read-only file system\n`);
  });
});
