import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { SolverConfig, TrainConfig } from '../config/types.js';
import type { Module } from '../model/module.js';
import { EnvironmentError } from '../util/env-errors.js';
import type { Rng } from '../util/rng.js';
import { checkpointLabel, latestCheckpoint, loadCheckpoint, saveCheckpoint, type TrainingState } from './checkpoint.js';
import { ExplosionGuard, type Explosion } from './explosion-guard.js';
import { TrainingFailedError } from './failure.js';
import { clipGradients, globalNorm, type Optimizer } from './optimizer.js';
import { learningRate } from './schedule.js';

export { TrainingFailedError } from './failure.js';

/** An endless, seeded source of batches whose position can be saved and restored (the data loader). */
export interface BatchSource<B> {
  next(): Promise<B>;
  /** JSON-serialisable position: restoring it makes `next` deliver the batches that followed it. */
  state(): unknown;
  restore(state: unknown): void;
}

/**
 * Computes the named loss terms of one batch (`{lossCls, lossBox}`); called inside `tf.variableGrads`, so every
 * tensor it makes is freed by the trainer. `input` is what `TrainerParts.prepare` made of the batch (null without
 * one). The sum of the terms is minimised.
 */
export type LossFn<B> = (batch: B, input: tf.Tensor | null) => Record<string, tf.Scalar>;

/** One log period, as written to metrics.jsonl and formatted into the log line. */
export interface IterationRecord {
  type: 'train';
  /** Iterations completed. */
  iteration: number;
  maxIter: number;
  lr: number;
  /** Seconds per iteration, averaged over the period: total, waiting for data, forward + backward, optimizer. */
  time: number;
  dataTime: number;
  forwardBackwardTime: number;
  optimizerTime: number;
  /** Seconds left at the current speed. */
  eta: number;
  /** Loss terms averaged over the period, snake_case (`loss_cls`, `loss_box`) plus their sum `loss`. */
  losses: Record<string, number>;
  gradNorm: number;
  /** Resident set size in MiB and tfjs tensor count / bytes. */
  memMiB: number;
  numTensors: number;
  tensorMiB: number;
}

export interface TrainerHooks {
  /** A log line every `logPeriod` iterations (the CLI prints it and appends it to log.txt). */
  log?(line: string, record: IterationRecord): void;
  /** After every iteration (a progress bar). */
  afterIteration?(iteration: number, maxIter: number): void;
  /** COCO stats on the val set; the trainer writes them into metrics.jsonl. */
  evaluate?(iteration: number): Promise<Record<string, number>>;
  /** Collapsed-filter statistics; the trainer appends the record to collapse.jsonl (nothing when null). */
  collapse?(iteration: number): Promise<unknown>;
  /** After each checkpoint is written. */
  checkpointed?(path: string, iteration: number): void;
}

export interface TrainerParts<B> {
  model: Module;
  optimizer: Optimizer;
  loader: BatchSource<B>;
  lossFn: LossFn<B>;
  /**
   * Turns a batch into the network input outside the gradient tape (ops on constants need no gradient, and some,
   * such as batchNorm without scale, cannot be recorded on it). The trainer disposes the result after the step.
   */
  prepare?: (batch: B) => tf.Tensor;
  /** The run's generator; saved in checkpoints so draws after a resume match an uninterrupted run. */
  rng: Rng;
  solver: SolverConfig;
  train: TrainConfig;
  /** Run directory: metrics.jsonl, collapse.jsonl and checkpoints/ go here. */
  workDir: string;
  hooks?: TrainerHooks;
}

export interface TrainResult {
  /** Iterations completed. */
  iteration: number;
  /** True when `requestStop` ended the run early. */
  stopped: boolean;
  lastCheckpoint: string | null;
  /** Stats of the final evaluation, when an evaluate hook is given and the run reached maxIter. */
  finalEval: Record<string, number> | null;
}

/**
 * A non-finite loss term or gradient norm. The message names which (`loss` when a loss term is non-finite,
 * `gradient norm` when only the norm is), the 1-based iteration and every value.
 */
export class NonFiniteLossError extends TrainingFailedError {
  constructor(
    iteration: number,
    readonly terms: Record<string, number>,
    lastCheckpoint: string | null,
  ) {
    const { grad_norm: gradNorm, ...losses } = terms;
    const lossFinite = Object.values(losses).every(Number.isFinite);
    const values = Object.entries(terms)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    super(`non-finite ${lossFinite && gradNorm !== undefined ? 'gradient norm' : 'loss'} at iteration ${iteration} (${values})`, iteration, lastCheckpoint);
    this.name = 'NonFiniteLossError';
  }
}

/** A finite loss or gradient norm far above its running median (the explosion guard, explosion-guard.ts). */
export class ExplosionError extends TrainingFailedError {
  constructor(
    iteration: number,
    readonly explosion: Explosion,
    factor: number,
    lastCheckpoint: string | null,
  ) {
    const { quantity, value, median } = explosion;
    const name = quantity === 'loss' ? 'loss' : 'gradient norm';
    super(
      `${name} exploded at iteration ${iteration}: ${quantity}=${value.toPrecision(4)} is ${(value / median).toPrecision(3)}x ` +
        `its running median ${median.toPrecision(4)} (train.explosionFactor ${factor})`,
      iteration,
      lastCheckpoint,
    );
    this.name = 'ExplosionError';
  }
}

/** `lossCls` -> `loss_cls`. */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Seconds as `h:mm:ss`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** `iter 50/90000  lr 0.0100  eta 1:02:03  time 0.512  data_time 0.010  loss_cls 0.9  ...  mem 512M`. */
export function formatLogLine(r: IterationRecord): string {
  const parts = [
    `iter ${r.iteration}/${r.maxIter}`,
    `lr ${r.lr.toPrecision(3)}`,
    `eta ${formatDuration(r.eta)}`,
    `time ${r.time.toFixed(3)}`,
    `data_time ${r.dataTime.toFixed(3)}`,
    ...Object.entries(r.losses).map(([k, v]) => `${k} ${v.toFixed(4)}`),
    `grad_norm ${r.gradNorm.toFixed(3)}`,
    `mem ${Math.round(r.memMiB)}M`,
  ];
  return parts.join('  ');
}

interface StepTimes {
  time: number;
  dataTime: number;
  forwardBackwardTime: number;
  optimizerTime: number;
}

/**
 * The training loop: prefetches the next batch while the current step runs, computes losses and gradients,
 * stops on a non-finite or exploding loss or gradient norm, clips, steps the optimizer at the scheduled rate, logs,
 * evaluates, records collapse statistics and writes atomic checkpoints. `requestStop` (SIGINT / SIGTERM in the
 * CLI) makes it finish the current step, write a checkpoint and return with `stopped: true`.
 */
export class Trainer<B> {
  private readonly parts: TrainerParts<B>;
  private iteration = 0;
  private stopRequested = false;
  private lastCheckpoint: string | null = null;
  private readonly guard: ExplosionGuard;

  constructor(parts: TrainerParts<B>) {
    this.parts = parts;
    this.guard = new ExplosionGuard(parts.train.explosionFactor, parts.train.explosionWarmupIters);
  }

  get checkpointsDir(): string {
    return join(this.parts.workDir, 'checkpoints');
  }

  /** Iterations completed so far. */
  get completed(): number {
    return this.iteration;
  }

  /** Finish the current step, checkpoint and return from `run`. Safe to call from a signal handler. */
  requestStop(): void {
    this.stopRequested = true;
  }

  /**
   * Restores model, optimizer, iteration, RNG and loader position from a checkpoint directory, and drops records
   * past that iteration from metrics.jsonl / collapse.jsonl (they will be written again).
   */
  resume(checkpointDir: string): TrainingState {
    const { model, optimizer, loader, rng } = this.parts;
    const state = loadCheckpoint(checkpointDir, model, optimizer);
    this.iteration = state.iteration;
    rng.setState(state.rng);
    loader.restore(state.loader);
    this.guard.restore(state.extra?.explosionGuard);
    this.lastCheckpoint = checkpointDir;
    for (const file of ['metrics.jsonl', 'collapse.jsonl']) this.truncateRecords(join(this.parts.workDir, file), state.iteration);
    return state;
  }

  /** The newest checkpoint of this run, if any (what `--resume auto` takes). */
  latestCheckpoint(): string | null {
    return latestCheckpoint(this.checkpointsDir);
  }

  async run(): Promise<TrainResult> {
    const { solver, train, loader, hooks, workDir } = this.parts;
    mkdirSync(workDir, { recursive: true });
    const maxIter = solver.maxIter;
    let window: StepTimes[] = [];
    let lossSums: Record<string, number> = {};
    let gradNormSum = 0;
    const recentTimes: number[] = [];

    let loaderState = loader.state();
    let pending = this.iteration < maxIter ? loader.next() : null;
    let tick = performance.now();
    while (this.iteration < maxIter) {
      const batch = await pending!;
      const dataTime = (performance.now() - tick) / 1000;
      const stateAfterBatch = loader.state();
      // Ask for the next batch now so decoding overlaps this step's compute.
      pending = this.iteration + 1 < maxIter ? loader.next() : null;

      const step = await this.step(batch);
      const total = (performance.now() - tick) / 1000;
      tick = performance.now();
      this.iteration += 1;
      loaderState = stateAfterBatch;

      window.push({ time: total, dataTime, forwardBackwardTime: step.forwardBackwardTime, optimizerTime: step.optimizerTime });
      recentTimes.push(total);
      if (recentTimes.length > 20) recentTimes.shift();
      for (const [k, v] of Object.entries(step.losses)) lossSums[k] = (lossSums[k] ?? 0) + v;
      gradNormSum += step.gradNorm;

      const it = this.iteration;
      const isLast = it === maxIter;
      if (it % train.logPeriod === 0 || isLast || this.stopRequested) {
        const n = window.length;
        const mean = (f: (s: StepTimes) => number): number => window.reduce((a, s) => a + f(s), 0) / n;
        const speed = [...recentTimes].sort((a, b) => a - b)[Math.floor(recentTimes.length / 2)]!;
        const losses = Object.fromEntries(Object.entries(lossSums).map(([k, v]) => [k, v / n]));
        const mem = tf.memory();
        const record: IterationRecord = {
          type: 'train',
          iteration: it,
          maxIter,
          lr: step.lr,
          time: mean((s) => s.time),
          dataTime: mean((s) => s.dataTime),
          forwardBackwardTime: mean((s) => s.forwardBackwardTime),
          optimizerTime: mean((s) => s.optimizerTime),
          eta: speed * (maxIter - it),
          losses,
          gradNorm: gradNormSum / n,
          memMiB: process.memoryUsage().rss / 2 ** 20,
          numTensors: mem.numTensors,
          tensorMiB: mem.numBytes / 2 ** 20,
        };
        this.appendRecord('metrics.jsonl', record);
        hooks?.log?.(formatLogLine(record), record);
        window = [];
        lossSums = {};
        gradNormSum = 0;
      }
      hooks?.afterIteration?.(it, maxIter);

      const checkpointDue = isLast || this.stopRequested || (train.checkpointPeriod > 0 && it % train.checkpointPeriod === 0);
      if (checkpointDue) await this.checkpoint(loaderState);
      if (this.stopRequested && !isLast) {
        if (pending !== null) await pending.catch(() => undefined);
        return { iteration: it, stopped: true, lastCheckpoint: this.lastCheckpoint, finalEval: null };
      }
      if (!isLast && train.evalPeriod > 0 && it % train.evalPeriod === 0) await this.runEvaluation(it);
      if (!isLast && train.collapsePeriod > 0 && it % train.collapsePeriod === 0) await this.runCollapse(it);
      if (this.stopRequested && !isLast) {
        // asked to stop during evaluation or collapse statistics: this iteration is not checkpointed yet
        await this.checkpoint(loaderState);
        if (pending !== null) await pending.catch(() => undefined);
        return { iteration: it, stopped: true, lastCheckpoint: this.lastCheckpoint, finalEval: null };
      }
      // Checkpoint, evaluation and collapse time is not charged to the next iteration.
      tick = performance.now();
    }
    const finalEval = await this.runEvaluation(this.iteration);
    await this.runCollapse(this.iteration);
    return { iteration: this.iteration, stopped: false, lastCheckpoint: this.lastCheckpoint, finalEval };
  }

  /** Runs the evaluate hook and writes its stats into metrics.jsonl. */
  async runEvaluation(iteration: number): Promise<Record<string, number> | null> {
    const evaluate = this.parts.hooks?.evaluate;
    if (evaluate === undefined) return null;
    const stats = await evaluate(iteration);
    this.appendRecord('metrics.jsonl', { type: 'eval', iteration, ...stats });
    return stats;
  }

  /** Runs the collapse hook and appends its record to collapse.jsonl. */
  async runCollapse(iteration: number): Promise<void> {
    const collapse = this.parts.hooks?.collapse;
    if (collapse === undefined) return;
    const record = await collapse(iteration);
    if (record === null || record === undefined) return;
    this.appendRecord('collapse.jsonl', { iteration, ...(record as Record<string, unknown>) });
  }

  private async checkpoint(loaderState: unknown): Promise<void> {
    const { model, optimizer, rng, solver, train, hooks } = this.parts;
    const { baseLr, batchSize, scaleLrWithBatch, referenceBatchSize, maxIter, schedule, steps, gamma, warmupIters, warmupFactor } =
      solver;
    const state: TrainingState = {
      iteration: this.iteration,
      rng: rng.getState(),
      loader: loaderState,
      schedule: { baseLr, batchSize, scaleLrWithBatch, referenceBatchSize, maxIter, schedule, steps, gamma, warmupIters, warmupFactor },
      extra: { savedAt: new Date().toISOString(), explosionGuard: this.guard.state() },
    };
    try {
      this.lastCheckpoint = await saveCheckpoint(this.checkpointsDir, model, optimizer, state, train.keepCheckpoints);
    } catch (err) {
      if (!(err instanceof EnvironmentError)) throw err;
      const kept = this.lastCheckpoint === null ? 'no earlier checkpoint' : `last complete checkpoint: ${checkpointLabel(this.lastCheckpoint)}`;
      throw new EnvironmentError(`${err.message} (checkpoint at iteration ${this.iteration} not written; ${kept})`, err.code, err.path);
    }
    hooks?.checkpointed?.(this.lastCheckpoint, this.iteration);
  }

  private async step(batch: B): Promise<{
    lr: number;
    losses: Record<string, number>;
    gradNorm: number;
    forwardBackwardTime: number;
    optimizerTime: number;
  }> {
    const { optimizer, lossFn, solver, prepare } = this.parts;
    const lr = learningRate(this.iteration, solver);
    const start = performance.now();
    let terms: Record<string, tf.Scalar> = {};
    const input = prepare === undefined ? null : prepare(batch);
    const { value, grads } = tf.variableGrads(() => {
      terms = lossFn(batch, input);
      const names = Object.keys(terms);
      for (const name of names) tf.keep(terms[name]!);
      return tf.addN(names.map((n) => terms[n]!)) as tf.Scalar;
    }, optimizer.variables());
    const normT = globalNorm(grads);
    const names = Object.keys(terms);
    const read = await Promise.all([...names.map((n) => terms[n]!.data()), value.data(), normT.data()]);
    tf.dispose([value, normT, ...Object.values(terms)]);
    if (input !== null) input.dispose();
    const losses: Record<string, number> = {};
    names.forEach((n, i) => (losses[snakeCase(n)] = read[i]![0]!));
    losses.loss = read[names.length]![0]!;
    const gradNorm = read[names.length + 1]![0]!;
    const forwardBackwardTime = (performance.now() - start) / 1000;

    // Refuse the update of a broken step: the weights, the optimizer and the checkpoints on disk stay as they were.
    const kept = this.lastCheckpoint === null ? null : checkpointLabel(this.lastCheckpoint);
    if (!Object.values(losses).every(Number.isFinite) || !Number.isFinite(gradNorm)) {
      tf.dispose(Object.values(grads));
      throw new NonFiniteLossError(this.iteration + 1, { ...losses, grad_norm: gradNorm }, kept);
    }
    const explosion = this.guard.check(losses.loss, gradNorm);
    if (explosion !== null) {
      tf.dispose(Object.values(grads));
      throw new ExplosionError(this.iteration + 1, explosion, this.guard.factor, kept);
    }
    const optStart = performance.now();
    const clipped = clipGradients(grads, gradNorm, solver.clipGradNorm);
    optimizer.step(clipped, lr);
    if (clipped !== grads) tf.dispose(Object.values(clipped));
    tf.dispose(Object.values(grads));
    const optimizerTime = (performance.now() - optStart) / 1000;
    return { lr, losses, gradNorm, forwardBackwardTime, optimizerTime };
  }

  private appendRecord(file: string, record: object): void {
    appendFileSync(join(this.parts.workDir, file), `${JSON.stringify(record)}\n`);
  }

  private truncateRecords(path: string, iteration: number): void {
    if (!existsSync(path)) return;
    const kept = readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => {
        if (line.trim() === '') return false;
        try {
          return (JSON.parse(line) as { iteration?: number }).iteration! <= iteration;
        } catch {
          return false;
        }
      });
    writeFileSync(path, kept.map((l) => `${l}\n`).join(''));
  }
}
