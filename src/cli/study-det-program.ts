import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, Option } from 'commander';
import { parseAssignments, resolveConfig } from '../config/resolve.js';
import { NORM_KINDS, type Config, type NormKind, type OptimizerKind } from '../config/types.js';
import {
  expandGrid, formatGridTable, readFinished, runGrid, runRevival, writeGridReport, writeRevivalReport,
  type FineTune, type MeasureCollapse, type RunTraining,
} from '../analysis/study.js';
import { formatCollapseTable, formatRevivalTable } from '../analysis/table.js';
import { writeStudyReport } from '../report/study-report.js';
import { checkpointConfig, resolveModelSource } from '../infer/load.js';
import { InputError } from '../util/errors.js';

/**
 * The study-det command line, with the parts that need a model and a trainer handed in (study-det.ts hands in the
 * real ones; tests hand in fakes).
 */
export interface StudyWiring {
  /** The collapse report of a checkpoint (psdet's own or an imported torchvision one) on config's probe set. */
  measure: MeasureCollapse;
  /** Trains one grid run to the end in config.workDir. */
  runTraining: RunTraining;
  /** Fine-tunes from a checkpoint's weights in config.workDir. */
  fineTune: FineTune;
  /** Where human-readable output goes (stdout in the CLI). */
  print: (text: string) => void;
}

const NORMS: readonly NormKind[] = NORM_KINDS;
const OPTIMIZERS: readonly OptimizerKind[] = ['sgd', 'adam', 'adamw'];

/** `bn,psbn` -> ['bn', 'psbn'], each checked against `allowed`; the flag is named in the error. */
export function parseChoiceList<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
  const items = splitList(flag, value);
  for (const item of items) {
    if (!allowed.includes(item as T)) throw new InputError(`${flag}: "${item}" is not one of ${allowed.join(', ')}`);
  }
  return items as T[];
}

/** `0.01,0.05` -> [0.01, 0.05]; every item a finite number (>= 0 when `nonNegative`). */
export function parseNumberList(flag: string, value: string, opts: { integer?: boolean; positive?: boolean } = {}): number[] {
  return splitList(flag, value).map((item) => {
    const n = Number(item);
    if (item === '' || !Number.isFinite(n)) throw new InputError(`${flag}: "${item}" is not a number`);
    if (opts.integer === true && !Number.isInteger(n)) throw new InputError(`${flag}: "${item}" is not an integer`);
    if (opts.positive === true && !(n > 0)) throw new InputError(`${flag}: "${item}" must be positive`);
    return n;
  });
}

function splitList(flag: string, value: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new InputError(`${flag}: expected a comma-separated list, got "${value}"`);
  return items;
}

function parseNumber(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InputError(`${flag}: "${value}" is not a number`);
  return n;
}

interface ConfigFlags {
  config?: string;
  set: string[];
  data?: string;
  probeImages?: number;
  deadThreshold?: number;
  gammaThreshold?: number;
  maxIter?: number;
}

function addConfigFlags(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'model + schedule config (models/*.json)')
    .option('--set <key=value...>', 'override any config field, e.g. --set solver.batchSize=2', (v: string, prev: string[]) => [...prev, v], [])
    .option('--data <dir>', 'COCO-layout root (annotations/, train2017/, val2017/); default: the config\'s data.root')
    .option('--verbose', 'also print what the GPU drivers wrote while the backend was chosen')
    .addOption(new Option('--probe-images <n>', 'validation images in the probe set (collapse.probeImages)').argParser((v) => parseNumberList('--probe-images', v, { integer: true, positive: true })[0]!))
    .addOption(new Option('--dead-threshold <x>', 'dead when the ReLU input is <= x everywhere (collapse.deadThreshold)').argParser((v) => parseNumber('--dead-threshold', v)))
    .addOption(new Option('--gamma-threshold <x>', 'parameter view: |gamma| < x (collapse.gammaThreshold)').argParser((v) => parseNumber('--gamma-threshold', v)));
}

/** defaults <- --config <- named flags <- --set. */
export function configFromFlags(flags: ConfigFlags, baseConfig: string | null = flags.config ?? null): Config {
  const named: Record<string, unknown> = {};
  const collapse: Record<string, number> = {};
  if (flags.probeImages !== undefined) collapse.probeImages = flags.probeImages;
  if (flags.deadThreshold !== undefined) collapse.deadThreshold = flags.deadThreshold;
  if (flags.gammaThreshold !== undefined) collapse.gammaThreshold = flags.gammaThreshold;
  if (Object.keys(collapse).length > 0) named.collapse = collapse;
  if (flags.data !== undefined) named.data = { root: flags.data };
  if (flags.maxIter !== undefined) named.solver = { maxIter: flags.maxIter };
  return resolveConfig(baseConfig, [named, parseAssignments(flags.set)]);
}

function setupLines(config: Config): string[] {
  const m = config.model;
  const s = config.solver;
  return [
    `Model: RetinaNet ResNet-${m.depth} x${m.widthMultiplier} width, FPN ${m.fpnChannels}, head ${m.headDepth} x ${m.headChannels}, ${m.numClasses} classes; psBN alpha ${m.psbnAlpha}.`,
    `Data: ${config.data.root ?? 'embedded shapes set'} (train limit ${config.data.trainLimit || 'all'}, val limit ${config.data.valLimit || 'all'}); train sizes ${config.input.trainMinSizes.join('/')}, max ${config.input.maxSize}.`,
    `Schedule: ${s.maxIter} iterations, batch ${s.batchSize}, ${s.schedule}, warm-up ${s.warmupIters}; weight decay ${s.weightDecay} (norm: set per study), momentum ${s.momentum}, Adam betas ${s.adamBetas.join('/')}.`,
    `Collapse measured every ${config.train.collapsePeriod} iterations on ${config.collapse.probeImages} val images; seed ${config.seed}; backend ${config.backend}.`,
  ];
}

/** Builds the `study-det` program. Errors the user can fix are InputErrors (the entry point prints them on one line). */
export function studyProgram(wiring: StudyWiring): Command {
  const program = new Command('study-det')
    .description('Collapsed-filter statistics and psBN studies for psdet RetinaNet')
    .showHelpAfterError()
    .exitOverride();

  addConfigFlags(
    program
      .command('collapse')
      .description('per-stage collapsed-filter table of a checkpoint (psdet or imported torchvision weights)')
      .argument('<checkpoint>', 'psdet checkpoint directory, .pth / .safetensors state dict, torchvision:NAME or http(s) URL')
      .option('--json <file>', 'also write the full report (per site, with dead channel indices) as JSON'),
  ).action(async (checkpoint: string, flags: ConfigFlags & { json?: string }) => {
    // A psdet checkpoint (a model_N dir, checkpoints/last, a work dir) brings its run's config.json unless --config names one.
    const fromRun = flags.config === undefined && !checkpoint.endsWith('.safetensors');
    const config = configFromFlags(flags, fromRun ? checkpointConfig(resolveModelSource(checkpoint).dir, null).source : (flags.config ?? null));
    const report = await wiring.measure(config, checkpoint);
    wiring.print(formatCollapseTable(report, `collapsed filters: ${checkpoint}`));
    if (flags.json !== undefined) {
      mkdirSync(dirname(flags.json), { recursive: true });
      writeFileSync(flags.json, `${JSON.stringify(report, null, 1)}\n`);
    }
  });

  addConfigFlags(
    program
      .command('grid')
      .description('train a grid of runs one after another (resumable) and write report.md with plots')
      .requiredOption('--out <dir>', 'study directory (runs/<id>/ each, report.md, plots/)')
      .option('--norms <list>', 'norm layers', 'bn,psbn')
      .option('--lrs <list>', 'base learning rates', '0.01')
      .option('--optimizers <list>', 'optimizers', 'sgd')
      .option('--frozen <list>', 'frozen stages (0 = none)', '0')
      .addOption(new Option('--max-iter <n>', 'iterations per run (solver.maxIter)').argParser((v) => parseNumberList('--max-iter', v, { integer: true, positive: true })[0]!))
      .addOption(new Option('--norm-weight-decay <x>', 'weight decay on gamma/beta (default: solver.weightDecay)').argParser((v) => parseNumber('--norm-weight-decay', v)))
      .option('--report-only', 'do not train; write the report from the runs finished so far'),
  ).action(async (flags: ConfigFlags & { out: string; norms: string; lrs: string; optimizers: string; frozen: string; normWeightDecay?: number; reportOnly?: boolean }) => {
    const config = configFromFlags(flags);
    const grid = {
      norms: parseChoiceList('--norms', flags.norms, NORMS),
      lrs: parseNumberList('--lrs', flags.lrs, { positive: true }),
      optimizers: parseChoiceList('--optimizers', flags.optimizers, OPTIMIZERS),
      frozenStages: parseNumberList('--frozen', flags.frozen, { integer: true }),
      ...(flags.normWeightDecay !== undefined ? { normWeightDecay: flags.normWeightDecay } : {}),
    };
    const runs = expandGrid(config, grid, flags.out);
    const results = flags.reportOnly === true
      ? readFinished(runs)
      : await runGrid(runs, wiring.runTraining, {
          onSkip: (run) => wiring.print(`[study] ${run.id}: finished before, skipped`),
          onStart: (run, i, n) => wiring.print(`[study] run ${i + 1}/${n}: ${run.id} in ${run.config.workDir}`),
          onFinish: (run, r) => wiring.print(`[study] ${run.id}: done in ${(r.seconds / 60).toFixed(1)} min, mAP ${r.mAP === null ? '-' : (100 * r.mAP).toFixed(1)}, dead ${r.finalCollapse === null ? '-' : (100 * r.finalCollapse.total.deadRatio).toFixed(1)}%`),
        });
    const setup = [...setupLines(config), `Grid: norms ${grid.norms.join(', ')}; lrs ${grid.lrs.join(', ')}; optimizers ${grid.optimizers.join(', ')}; frozen stages ${grid.frozenStages.join(', ')}; weight decay on gamma/beta ${grid.normWeightDecay ?? config.solver.weightDecay}.`];
    const path = await writeGridReport(flags.out, runs, results, { title: 'Collapsed filters: grid study', setup });
    const page = await writeStudyReport(flags.out, 'Grid study: arms side by side', runs.map((r) => ({ id: r.id, workDir: r.config.workDir })));
    wiring.print(formatGridTable(results));
    wiring.print(`[study] report: ${path}, ${page}`);
  });

  addConfigFlags(
    program
      .command('revive')
      .description('fine-tune a checkpoint with collapsed filters under psBN and BN; count channels that come back')
      .argument('<checkpoint>', 'checkpoint with collapsed filters')
      .requiredOption('--out <dir>', 'study directory (revive/<norm>/, revival.md, plots/)')
      .option('--norms <list>', 'norms to fine-tune with', 'psbn,bn')
      .option('--checkpoint-norm <norm>', 'norm the checkpoint was trained with; BN weights get beta - alpha under psBN (same function at start)', 'bn')
      .addOption(new Option('--induce-collapse <fraction>', 'controlled start: put this share of every ReLU-feeding backbone norm\'s channels into the collapsed state (gamma 0.005, beta -0.05), seeded').argParser((v) => parseNumber('--induce-collapse', v)))
      .addOption(new Option('--max-iter <n>', 'fine-tuning iterations (solver.maxIter)').argParser((v) => parseNumberList('--max-iter', v, { integer: true, positive: true })[0]!))
      .addOption(new Option('--norm-weight-decay <x>', 'weight decay on gamma/beta (default: solver.weightDecay)').argParser((v) => parseNumber('--norm-weight-decay', v))),
  ).action(async (checkpoint: string, flags: ConfigFlags & { out: string; norms: string; normWeightDecay?: number }) => {
    const config = configFromFlags(flags);
    const norms = parseChoiceList('--norms', flags.norms, NORMS);
    const results = await runRevival(
      config,
      { checkpoint, norms, ...(flags.normWeightDecay !== undefined ? { normWeightDecay: flags.normWeightDecay } : {}) },
      flags.out,
      { measure: wiring.measure, fineTune: wiring.fineTune, onStart: (norm) => wiring.print(`[revive] fine-tuning with ${norm} in ${join(flags.out, 'revive', norm)}`) },
    );
    for (const r of results) wiring.print(formatRevivalTable(r.rows, `fine-tuned with ${r.norm}:`));
    const induced = (flags as { induceCollapse?: number }).induceCollapse;
    const setup = [
      ...setupLines(config),
      `Start: ${checkpoint}${induced !== undefined ? `, with ${(100 * induced).toFixed(0)}% of the channels of every ReLU-feeding backbone norm set to gamma 0.005, beta -0.05 (seeded)` : ''}; fine-tuning ${config.solver.optimizer} lr ${config.solver.baseLr}, ${config.solver.maxIter} iterations; weight decay on gamma/beta ${flags.normWeightDecay ?? config.solver.weightDecay}.`,
    ];
    const path = await writeRevivalReport(flags.out, results, { title: 'Collapsed filters: revival study', setup });
    const page = await writeStudyReport(flags.out, 'Revival study: arms side by side', norms.map((norm) => ({ id: norm, workDir: join(flags.out, 'revive', norm) })));
    wiring.print(`[revive] report: ${path}, ${page}`);
  });

  return program;
}
