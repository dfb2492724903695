import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

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
  code: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
  waitFor: (text: string) => Promise<void>;
  kill: (signal: NodeJS.Signals) => void;
}

function trainDet(args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/train-det.ts'), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // a plain process, as a user runs it (no vitest markers: they change how tfjs-core's gradients load)
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST'))),
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
});
