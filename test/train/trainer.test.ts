import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import type { SolverConfig, TrainConfig } from '../../src/config/types.js';
import { latestCheckpoint, listCheckpoints } from '../../src/train/checkpoint.js';
import { Optimizer } from '../../src/train/optimizer.js';
import { ExplosionError, formatLogLine, NonFiniteLossError, Trainer, type IterationRecord, type TrainerHooks } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';
import { ToyLoader, toyLosses, ToyNet, type ToyBatch } from './toy.js';

function solver(overrides: Partial<SolverConfig> = {}): SolverConfig {
  return {
    ...defaultConfig().solver,
    baseLr: 0.05,
    maxIter: 8,
    warmupIters: 3,
    warmupFactor: 0.1,
    steps: [5],
    batchSize: 2,
    ...overrides,
  };
}

function trainCfg(overrides: Partial<TrainConfig> = {}): TrainConfig {
  return { ...defaultConfig().train, logPeriod: 1, checkpointPeriod: 100, keepCheckpoints: 2, evalPeriod: 0, collapsePeriod: 0, ...overrides };
}

interface Run {
  trainer: Trainer<ToyBatch>;
  net: ToyNet;
  optimizer: Optimizer;
  rng: Rng;
  workDir: string;
  dispose(): void;
}

function makeRun(
  workDir: string,
  opts: {
    solver?: Partial<SolverConfig>;
    train?: Partial<TrainConfig>;
    hooks?: TrainerHooks;
    lossHook?: (b: ToyBatch) => void;
    /** Extra loss terms of a batch (none when it returns an empty object). */
    extraTerms?: (net: ToyNet, b: ToyBatch) => Record<string, tf.Scalar>;
  } = {},
): Run {
  const net = new ToyNet(7);
  const s = solver(opts.solver);
  const optimizer = new Optimizer(net.params(), s);
  const rng = new Rng(11);
  const trainer = new Trainer<ToyBatch>({
    model: net,
    optimizer,
    loader: new ToyLoader(3),
    lossFn: (batch) => {
      opts.lossHook?.(batch);
      // draw from the run's generator so its state matters for exact resume
      const jitter = rng.next();
      const terms = toyLosses(net, batch);
      return { ...terms, lossCls: tf.mul(terms.lossCls!, 1 + 0.01 * jitter) as tf.Scalar, ...opts.extraTerms?.(net, batch) };
    },
    rng,
    solver: s,
    train: trainCfg(opts.train),
    workDir,
    ...(opts.hooks !== undefined ? { hooks: opts.hooks } : {}),
  });
  return {
    trainer,
    net,
    optimizer,
    rng,
    workDir,
    dispose: () => {
      optimizer.dispose();
      net.dispose();
    },
  };
}

function snapshot(run: Run): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const p of run.net.params()) out[p.name] = Array.from(p.variable.dataSync());
  for (const b of run.net.buffers()) out[b.name] = Array.from(b.variable.dataSync());
  for (const [k, t] of Object.entries(run.optimizer.state().tensors)) out[`opt.${k}`] = Array.from(t.dataSync());
  return out;
}

function readJsonl(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'psdet-train-'));

describe('Trainer', () => {
  it('trains the toy net, writes metrics.jsonl and formats the log line', async () => {
    const lines: string[] = [];
    const run = makeRun(tempDir(), { solver: { maxIter: 40, warmupIters: 0, steps: [] }, train: { logPeriod: 10 }, hooks: { log: (l) => lines.push(l) } });
    const result = await run.trainer.run();
    expect(result).toMatchObject({ iteration: 40, stopped: false });
    const metrics = readJsonl(join(run.workDir, 'metrics.jsonl')) as unknown as IterationRecord[];
    expect(metrics.map((m) => m.iteration)).toEqual([10, 20, 30, 40]);
    expect(metrics[3]!.losses.loss).toBeLessThan(metrics[0]!.losses.loss!);
    expect(Object.keys(metrics[0]!.losses)).toEqual(['loss_cls', 'loss_box', 'loss']);
    expect(lines[0]).toMatch(
      /^iter 10\/40 {2}lr 0\.0500 {2}eta 0:00:\d\d {2}time \d+\.\d{3} {2}data_time \d+\.\d{3} {2}loss_cls \d+\.\d{4} {2}loss_box \d+\.\d{4} {2}loss \d+\.\d{4} {2}grad_norm \d+\.\d{3} {2}mem \d+M$/,
    );
    expect(latestCheckpoint(join(run.workDir, 'checkpoints'))).toMatch(/model_0000040$/);
    run.dispose();
  });

  it('resumes exactly: stopped at 3 and resumed ends bit-identical to an uninterrupted run', async () => {
    // Warm-up over 3 iterations and a step at 5 make the schedule matter; momentum, BN running stats, the run's
    // RNG and the loader position all carry state across the interruption.
    const straight = makeRun(tempDir());
    await straight.trainer.run();
    const expected = snapshot(straight);
    straight.dispose();

    const workDir = tempDir();
    const first = makeRun(workDir, { hooks: { afterIteration: (it) => it === 3 && first.trainer.requestStop() } });
    const stopped = await first.trainer.run();
    expect(stopped).toMatchObject({ iteration: 3, stopped: true });
    expect(stopped.lastCheckpoint).toMatch(/model_0000003$/);
    first.dispose();

    const second = makeRun(workDir);
    const resumedFrom = second.trainer.latestCheckpoint();
    expect(resumedFrom).toMatch(/model_0000003$/);
    expect(second.trainer.resume(resumedFrom!).iteration).toBe(3);
    const done = await second.trainer.run();
    expect(done).toMatchObject({ iteration: 8, stopped: false });
    expect(snapshot(second)).toEqual(expected);
    // metrics.jsonl has each iteration once
    expect(readJsonl(join(workDir, 'metrics.jsonl')).map((m) => m.iteration)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    second.dispose();
  });

  it('stops on a non-finite loss naming the iteration and each term, keeping the last good checkpoint', async () => {
    const workDir = tempDir();
    // parameters and optimizer slots after the last good step (the BN running buffers are left out: the bad
    // step's forward pass updates them before its loss is seen, and a run that stops never saves them)
    const learned = (): Record<string, number[]> =>
      Object.fromEntries(Object.entries(snapshot(run)).filter(([name]) => !name.startsWith('bn1.running_')));
    let afterGoodStep: Record<string, number[]> = {};
    const run = makeRun(workDir, {
      train: { checkpointPeriod: 2 },
      hooks: { afterIteration: (it) => it === 5 && (afterGoodStep = learned()) },
      lossHook: (batch) => {
        if (batch.index === 5) batch.targets[0] = Number.NaN;
      },
    });
    const error = await run.trainer.run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteLossError);
    const message = (error as Error).message;
    // the sixth step (batch index 5) is iteration 6 in the log's 1-based counting (`iter 6/8`)
    expect(message).toMatch(/^non-finite loss at iteration 6 \(loss_cls=NaN, loss_box=\d/);
    expect(message).toContain('loss=NaN');
    expect(message).toContain('training stopped before the update, last good checkpoint: model_0000004');
    expect((error as NonFiniteLossError).iteration).toBe(6);
    expect(latestCheckpoint(join(workDir, 'checkpoints'))).toMatch(/model_0000004$/);
    // iteration 4 (the fifth step) completed without a checkpoint; the bad sixth step changed no parameter and no
    // optimizer slot (its NaN gradients were never applied)
    expect(run.trainer.completed).toBe(5);
    expect(Object.keys(afterGoodStep)).toEqual(expect.arrayContaining(['conv1.weight', 'opt.momentum.conv1.weight']));
    expect(learned()).toEqual(afterGoodStep);
    expect(Object.values(afterGoodStep).flat().every(Number.isFinite)).toBe(true);
    run.dispose();
  });

  it('says "gradient norm" when the loss is finite and only the gradient norm is not', async () => {
    // sqrt at 0 has an infinite derivative: the term's value is 0 but its gradient is NaN (inf * 0)
    const run = makeRun(tempDir(), {
      extraTerms: (net, batch): Record<string, tf.Scalar> =>
        batch.index === 2 ? { lossSqrt: tf.sqrt(tf.mul(tf.sum(net.conv2), 0)) as tf.Scalar } : {},
    });
    const error = (await run.trainer.run().catch((e: unknown) => e)) as NonFiniteLossError;
    expect(error).toBeInstanceOf(NonFiniteLossError);
    expect(error.message).toMatch(/^non-finite gradient norm at iteration 3 \(loss_cls=\d[^,]*, loss_box=\d[^,]*, loss_sqrt=0, loss=\d[^,]*, grad_norm=NaN\)/);
    expect(error.message).toContain('no checkpoint written yet');
    run.dispose();
  });

  it('explosion guard: a finite loss spike far above its running median stops before the update, keeping the good checkpoints', async () => {
    // From batch 30 on the loss is multiplied by 1e4 (finite): the 31st step is refused.
    const spike = (net: ToyNet, batch: ToyBatch): Record<string, tf.Scalar> => {
      if (batch.index < 30) return {};
      const t = toyLosses(net, batch);
      return { lossSpike: tf.mul(tf.add(t.lossCls!, t.lossBox!), 1e4) as tf.Scalar };
    };
    const snapshots = new Map<number, Record<string, number[]>>();
    const guarded = makeRun(tempDir(), {
      solver: { maxIter: 40, warmupIters: 0, steps: [] },
      train: { checkpointPeriod: 10, keepCheckpoints: 2, explosionFactor: 100, explosionWarmupIters: 10 },
      extraTerms: spike,
      hooks: { checkpointed: (_, it) => snapshots.set(it, snapshot(guarded)) },
    });
    const error = (await guarded.trainer.run().catch((e: unknown) => e)) as ExplosionError;
    expect(error).toBeInstanceOf(ExplosionError);
    expect(error.message).toMatch(
      /^loss exploded at iteration 31: loss=\S+ is \S+x its running median \S+ \(train\.explosionFactor 100\); training stopped before the update, last good checkpoint: model_0000030$/,
    );
    expect(error.explosion.quantity).toBe('loss');
    expect(error.explosion.value / error.explosion.median).toBeGreaterThan(1000);
    // the refused update never landed on the parameters or the optimizer (the refused forward pass did move the
    // BN running statistics in memory, but nothing is written after it), and the good checkpoints are all there
    const learned = (snap: Record<string, number[]>): Record<string, number[]> =>
      Object.fromEntries(Object.entries(snap).filter(([k]) => !k.includes('running_')));
    expect(learned(snapshot(guarded))).toEqual(learned(snapshots.get(30)!));
    expect(listCheckpoints(join(guarded.workDir, 'checkpoints')).map((c) => c.name)).toEqual(['model_0000020', 'model_0000030']);
    guarded.dispose();

    // Without the guard the spike's update lands, and the final checkpoint (the new `last`) holds the damage.
    const damaged = new Map<number, Record<string, number[]>>();
    const unguarded = makeRun(tempDir(), {
      solver: { maxIter: 31, warmupIters: 0, steps: [] },
      train: { checkpointPeriod: 10, keepCheckpoints: 2, explosionFactor: 0 },
      extraTerms: spike,
      hooks: { checkpointed: (_, it) => damaged.set(it, snapshot(unguarded)) },
    });
    await unguarded.trainer.run();
    expect(latestCheckpoint(join(unguarded.workDir, 'checkpoints'))).toMatch(/model_0000031$/);
    const before = damaged.get(30)!['conv2.weight']!;
    const jump = Math.max(...damaged.get(31)!['conv2.weight']!.map((w, i) => Math.abs(w - before[i]!)));
    expect(jump).toBeGreaterThan(1); // one step moved a weight of size ~0.3 by more than 1
    unguarded.dispose();
  });

  it('the explosion guard history is saved in checkpoints and restored on resume', async () => {
    const workDir = tempDir();
    const first = makeRun(workDir, { train: { checkpointPeriod: 4 } });
    await first.trainer.run();
    first.dispose();
    const state = JSON.parse(readFileSync(join(workDir, 'checkpoints', 'model_0000004', 'state.json'), 'utf8')) as {
      extra: { explosionGuard: { seen: number; loss: number[]; gradNorm: number[] } };
    };
    const losses = readJsonl(join(workDir, 'metrics.jsonl')).slice(0, 4) as unknown as IterationRecord[];
    expect(state.extra.explosionGuard.seen).toBe(4);
    expect(state.extra.explosionGuard.loss).toEqual(losses.map((m) => m.losses.loss)); // logPeriod 1: one value each
    expect(state.extra.explosionGuard.gradNorm).toEqual(losses.map((m) => m.gradNorm));
    // armed after 4 iterations: a resumed run at 4 is armed at once (a fresh history would need 4 more)
    const resumed = makeRun(workDir, {
      train: { explosionWarmupIters: 4 },
      extraTerms: (net, batch): Record<string, tf.Scalar> =>
        batch.index === 4 ? { lossSpike: tf.mul(toyLosses(net, batch).lossBox!, 1e6) as tf.Scalar } : {},
    });
    resumed.trainer.resume(join(workDir, 'checkpoints', 'model_0000004'));
    await expect(resumed.trainer.run()).rejects.toThrow(/^loss exploded at iteration 5: /);
    resumed.dispose();
  });

  it('keeps the tensor count flat across iterations', async () => {
    const counts: number[] = [];
    const run = makeRun(tempDir(), {
      solver: { maxIter: 12, optimizer: 'adamw', clipGradNorm: 0.01 },
      hooks: { afterIteration: () => counts.push(tf.memory().numTensors) },
    });
    const start = tf.memory().numTensors;
    await run.trainer.run();
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(tf.memory().numTensors).toBe(start);
    run.dispose();
  });

  it('evaluates and records collapse statistics every N iterations and at the end', async () => {
    const evals: number[] = [];
    const run = makeRun(tempDir(), {
      solver: { maxIter: 5 },
      train: { evalPeriod: 2, collapsePeriod: 3, logPeriod: 5 },
      hooks: {
        evaluate: async (it) => {
          evals.push(it);
          return { AP: it / 10, AP50: it / 5 };
        },
        collapse: async (it) => ({ stages: [{ stage: 'stem', dead: it }] }),
      },
    });
    const result = await run.trainer.run();
    expect(evals).toEqual([2, 4, 5]);
    expect(result.finalEval).toEqual({ AP: 0.5, AP50: 1 });
    const metrics = readJsonl(join(run.workDir, 'metrics.jsonl'));
    expect(metrics.map((m) => [m.type, m.iteration])).toEqual([
      ['eval', 2],
      ['eval', 4],
      ['train', 5],
      ['eval', 5],
    ]);
    expect(readJsonl(join(run.workDir, 'collapse.jsonl'))).toEqual([
      { iteration: 3, stages: [{ stage: 'stem', dead: 3 }] },
      { iteration: 5, stages: [{ stage: 'stem', dead: 5 }] },
    ]);
    run.dispose();
  });

  it('a stop asked for during an evaluation checkpoints that iteration and returns', async () => {
    const run = makeRun(tempDir(), {
      train: { evalPeriod: 2 },
      hooks: {
        evaluate: async () => {
          run.trainer.requestStop();
          return { AP: 0 };
        },
      },
    });
    const result = await run.trainer.run();
    expect(result).toMatchObject({ iteration: 2, stopped: true, finalEval: null });
    expect(result.lastCheckpoint).toMatch(/model_0000002$/);
    run.dispose();
  });

  it('log line matches the documented shape', () => {
    const record: IterationRecord = {
      type: 'train',
      iteration: 50,
      maxIter: 90000,
      lr: 0.01,
      time: 0.512,
      dataTime: 0.01,
      forwardBackwardTime: 0.4,
      optimizerTime: 0.1,
      eta: 3723,
      losses: { loss_cls: 0.9, loss_box: 0.4, loss: 1.3 },
      gradNorm: 2.1,
      memMiB: 512.2,
      numTensors: 10,
      tensorMiB: 1,
    };
    expect(formatLogLine(record)).toBe(
      'iter 50/90000  lr 0.0100  eta 1:02:03  time 0.512  data_time 0.010  loss_cls 0.9000  loss_box 0.4000  loss 1.3000  grad_norm 2.100  mem 512M',
    );
  });
});
