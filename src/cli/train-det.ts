#!/usr/bin/env node
import { appendFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import type { BackendInfo } from '../backend/index.js';
import { configWarnings } from '../config/resolve.js';
import type { Config } from '../config/types.js';
import type { JobReporter } from '../train/job.js';
import { TrainingFailedError } from '../train/failure.js';
import type { OpenRun } from '../train/run-dir.js';
import { InputError } from '../util/errors.js';
import { oneLineError } from './exit.js';
import { recordLastRun } from './last-run.js';
import { defaultWorkDir, parseTrainArgs, resolveTrainConfig, setsMaxIter } from './train-args.js';
import { ProgressBar } from './progress.js';

/**
 * Exit codes: 0 done, 1 training failed (non-finite or exploding loss, a crash), 2 bad input or environment (a full
 * disk, a read-only or busy work dir), 130 stopped by SIGINT / SIGTERM.
 */
const EXIT = { ok: 0, failed: 1, input: 2, interrupted: 130 } as const;

/** The environment block printed at start and written to log.txt. */
function environmentLines(config: Config, backend: BackendInfo, tfVersion: string, argv: readonly string[]): string[] {
  const cpu = cpus();
  return [
    `command: train-det ${argv.join(' ')}`.trimEnd(),
    `date: ${new Date().toISOString()}`,
    `node: ${process.version} (${process.platform} ${process.arch})`,
    `cpu: ${cpu.length} x ${cpu[0]?.model.trim() ?? 'unknown'}, memory ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `tfjs-core: ${tfVersion}, backend: ${backend.name} (${backend.device})` +
      (backend.repairs.length > 0 ? `, project kernels: ${backend.repairs.join(', ')}` : ''),
    ...backend.skipped.map((s) => `backend skipped: ${s}`),
    `run: ${config.name}, work dir: ${config.workDir}`,
    `norm: ${config.model.norm}, normAffineTrainable: ${config.model.normAffineTrainable}, normEval: ${config.model.normEval}, ` +
      `frozenStages: ${config.model.frozenStages}${config.model.norm === 'psbn' ? `, psbnAlpha: ${config.model.psbnAlpha}` : ''}`,
    `solver: ${config.solver.optimizer} lr ${config.solver.baseLr} batch ${config.solver.batchSize} maxIter ${config.solver.maxIter} ` +
      `${config.solver.schedule} steps [${config.solver.steps.join(', ')}] warmup ${config.solver.warmupIters}`,
  ];
}

/** Writes a user-fixable error as one line (and into log.txt when there is one); returns its exit code. */
function failLine(err: unknown, logPath: string | null): number | null {
  const line = oneLineError(err);
  const message = line ?? (err instanceof TrainingFailedError ? err.message : null);
  if (message === null) return null;
  process.stderr.write(`train-det: ${message}\n`);
  if (logPath !== null) {
    try {
      appendFileSync(logPath, `error: ${message}\n`);
    } catch {
      // the disk that failed may not take the log line either
    }
  }
  return line !== null ? EXIT.input : EXIT.failed;
}

/** Runs `train-det` with `args` (without node and script) and returns the exit code. */
async function main(args: readonly string[]): Promise<number> {
  let config: Config;
  let cmd;
  try {
    cmd = parseTrainArgs(args);
    config = resolveTrainConfig(cmd);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.stdout.write(err.exitCode === 0 ? '' : `${err.message}\n`);
      return err.exitCode === 0 ? EXIT.ok : EXIT.input;
    }
    return failLine(err, null) ?? Promise.reject(err);
  }
  if (cmd.printConfig) {
    process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    return EXIT.ok;
  }

  // The work dir is this process's alone from here (train.lock) until it exits.
  let run: OpenRun;
  try {
    const { openRunDir } = await import('../train/run-dir.js');
    run = openRunDir(config, { resume: cmd.resume, evalOnly: cmd.evalOnly, maxIterGiven: setsMaxIter(cmd) });
    // `train-det --resume` naming no run continues this one (work_dirs/<name>.last)
    if (!cmd.evalOnly) recordLastRun(defaultWorkDir(config), config.name, config.workDir);
  } catch (err) {
    return failLine(err, null) ?? Promise.reject(err);
  }
  process.on('exit', () => run.lock.release());
  config = run.config;
  const logPath = join(config.workDir, 'log.txt');
  const bar = cmd.progress && process.stderr.isTTY ? new ProgressBar(process.stderr) : null;
  const info = (line: string): void => {
    if (bar !== null) bar.print(line);
    else process.stdout.write(`${line}\n`);
    appendFileSync(logPath, `${line}\n`);
  };

  let stopSignal: NodeJS.Signals | null = null;
  let trainer: { requestStop(): void } | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopSignal !== null || trainer === null) {
      // a second signal, or one before training started: stop now, keeping the last checkpoint on disk
      process.stderr.write(`\ntrain-det: ${signal}${stopSignal !== null ? ' again' : ''}, exiting without a checkpoint\n`);
      process.exit(EXIT.interrupted);
    }
    stopSignal = signal;
    info(`${signal}: finishing the current step and writing a checkpoint (send it again to quit at once)`);
    trainer.requestStop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let progressStart: { at: number; done: number } | null = null;
  const reporter: JobReporter = {
    info,
    progress: (done, total) => {
      if (bar === null) return;
      // eta from the speed since the first iteration seen by this process (a resumed run starts mid-way)
      const now = performance.now();
      if (progressStart === null) progressStart = { at: now, done };
      const rate = done > progressStart.done ? (now - progressStart.at) / 1000 / (done - progressStart.done) : null;
      bar.update(done, total, rate === null ? null : rate * (total - done));
    },
    task: (label, done, total) => bar?.update(done, total, null, label),
    trainerReady: (t) => (trainer = t),
  };

  try {
    // The heavy modules (tfjs, sharp, the model) load only after the arguments are known to be good.
    const [tf, { selectBackend }, { runTraining }] = await Promise.all([
      import('@tensorflow/tfjs-core'),
      import('../backend/index.js'),
      import('../train/job.js'),
    ]);
    let backend: BackendInfo;
    try {
      backend = await selectBackend(config.backend);
    } catch (err) {
      throw new InputError(`--backend ${config.backend}: ${(err as Error).message}`);
    }
    if (cmd.verbose) for (const line of backend.driverMessages) process.stderr.write(`${line}\n`);
    const configPath = join(config.workDir, 'config.json');
    // --eval-only leaves the run's record alone; a training run writes what it runs with
    if (!cmd.evalOnly || run.savedConfig === null) writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
    for (const line of environmentLines(config, backend, tf.version_core, args)) info(line);
    for (const line of run.notes) info(line);
    for (const line of configWarnings(config)) info(`warning: ${line}`);
    info(`resolved config written to ${configPath}`);
    const initWeights = cmd.weights === null ? undefined : await (await import('./weights.js')).initialWeights(cmd.weights, config, info);
    const result = await runTraining(config, { resume: run.checkpoint, evalOnly: cmd.evalOnly, reporter, backend, ...(initWeights === undefined ? {} : { initWeights }) });
    bar?.clear();
    if (result.stopped) {
      info(`stopped at iteration ${result.iteration}; checkpoint ${result.lastCheckpoint ?? '(none)'}; continue with --resume`);
      return EXIT.interrupted;
    }
    return EXIT.ok;
  } catch (err) {
    bar?.clear();
    return failLine(err, logPath) ?? Promise.reject(err);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // A bad environment (a full or read-only disk, the wasm heap exhausted) is one line, exit 2; a bug, its stack.
    const line = oneLineError(err);
    if (line !== null) {
      process.stderr.write(`train-det: ${line}\n`);
      process.exit(EXIT.input);
    }
    process.stderr.write(`train-det: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(EXIT.failed);
  },
);
