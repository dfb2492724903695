#!/usr/bin/env node
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import type { BackendInfo } from '../backend/index.js';
import type { Config } from '../config/types.js';
import type { JobReporter } from '../train/job.js';
import { InputError } from '../util/errors.js';
import { recordLastRun } from './last-run.js';
import { defaultWorkDir, parseTrainArgs, resolveTrainConfig } from './train-args.js';
import { ProgressBar } from './progress.js';

/** Exit codes: 0 done, 1 training failed (non-finite loss, crash), 2 bad input, 130 stopped by SIGINT / SIGTERM. */
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
      `frozenStages: ${config.model.frozenStages}, psbnAlpha: ${config.model.psbnAlpha}`,
    `solver: ${config.solver.optimizer} lr ${config.solver.baseLr} batch ${config.solver.batchSize} maxIter ${config.solver.maxIter} ` +
      `${config.solver.schedule} steps [${config.solver.steps.join(', ')}] warmup ${config.solver.warmupIters}`,
  ];
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
    if (err instanceof InputError) {
      process.stderr.write(`train-det: ${err.message}\n`);
      return EXIT.input;
    }
    throw err;
  }
  if (cmd.printConfig) {
    process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    return EXIT.ok;
  }

  mkdirSync(config.workDir, { recursive: true });
  if (!cmd.evalOnly) recordLastRun(defaultWorkDir(config), config.name, config.workDir);
  const logPath = join(config.workDir, 'log.txt');
  const bar = cmd.progress && process.stderr.isTTY ? new ProgressBar(process.stderr) : null;
  const info = (line: string): void => {
    if (bar !== null) bar.print(line);
    else process.stdout.write(`${line}\n`);
    appendFileSync(logPath, `${line}\n`);
  };

  let stopSignal: NodeJS.Signals | null = null;
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
    trainerReady: (trainer) => {
      const onSignal = (signal: NodeJS.Signals): void => {
        if (stopSignal !== null) {
          // a second signal: stop now, keeping the last checkpoint on disk
          process.stderr.write(`\ntrain-det: ${signal} again, exiting without a checkpoint\n`);
          process.exit(EXIT.interrupted);
        }
        stopSignal = signal;
        info(`${signal}: finishing the current step and writing a checkpoint (send it again to quit at once)`);
        trainer.requestStop();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    },
  };

  // The heavy modules (tfjs, sharp, the model) load only after the arguments are known to be good.
  const [tf, { selectBackend }, { runTraining }, { NonFiniteLossError }] = await Promise.all([
    import('@tensorflow/tfjs-core'),
    import('../backend/index.js'),
    import('../train/job.js'),
    import('../train/trainer.js'),
  ]);
  try {
    let backend: BackendInfo;
    try {
      backend = await selectBackend(config.backend);
    } catch (err) {
      throw new InputError(`--backend ${config.backend}: ${(err as Error).message}`);
    }
    writeFileSync(join(config.workDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    for (const line of environmentLines(config, backend, tf.version_core, args)) info(line);
    info(`resolved config written to ${join(config.workDir, 'config.json')}`);
    const result = await runTraining(config, { resume: cmd.resume, evalOnly: cmd.evalOnly, reporter, backend });
    bar?.clear();
    if (result.stopped) {
      info(`stopped at iteration ${result.iteration}; checkpoint ${result.lastCheckpoint ?? '(none)'}; continue with --resume`);
      return EXIT.interrupted;
    }
    return EXIT.ok;
  } catch (err) {
    bar?.clear();
    if (err instanceof InputError) {
      process.stderr.write(`train-det: ${err.message}\n`);
      appendFileSync(logPath, `error: ${err.message}\n`);
      return EXIT.input;
    }
    if (err instanceof NonFiniteLossError) {
      process.stderr.write(`train-det: ${err.message}\n`);
      appendFileSync(logPath, `error: ${err.message}\n`);
      return EXIT.failed;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`train-det: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(EXIT.failed);
  },
);
