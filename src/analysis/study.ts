import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { normPreset, type Config, type NormKind, type OptimizerKind } from '../config/types.js';
import { compareDead, type CollapseReport, type StageRevival } from './collapse.js';
import { latestAttempt, readCollapseLog, type CollapseLogEntry, type CollapseLogStage } from './collapse-log.js';
import { ratioBarsSpec, ratioLinesSpec, writeChart, type RatioSeries } from './plots.js';
import { STAGES, type Stage } from './probe.js';
import { formatTable, percent } from './table.js';

/**
 * Collapse studies: a grid of training runs (norm x learning rate x optimizer x frozen stages) run one after another,
 * each in its own work dir, resumable; and a revival study (fine-tune a checkpoint with collapsed filters under psBN
 * and BN, count the channels that come back). Training and measuring are handed in (the trainer's `runTraining`,
 * a probe pass over a checkpoint), so this module knows nothing of the model or the data.
 */

/** What a training run hands back to the study. */
export interface TrainingResult {
  /** Final COCO AP@[.5:.95] on the val split (0..1), or null when the run was not evaluated. */
  mAP: number | null;
  /** Why the run ended early (e.g. a non-finite loss at a large learning rate); the run still counts as finished. */
  failure?: string;
}

/** Trains one run to the end in `config.workDir`, writing `collapse.jsonl` there (the trainer's job). */
export type RunTraining = (config: Config) => Promise<TrainingResult>;

export interface GridSpec {
  norms: NormKind[];
  lrs: number[];
  optimizers: OptimizerKind[];
  frozenStages: number[];
  /**
   * Weight decay on norm gamma / beta for every run. Collapse needs it (decay is what shrinks a dead channel's
   * gamma and beta, and what pulls psBN's output towards alpha), so the study sets it explicitly; default: the base
   * config's solver.weightDecay.
   */
  normWeightDecay?: number;
}

/** One cell of the grid. */
export interface StudyRun {
  id: string;
  norm: NormKind;
  lr: number;
  optimizer: OptimizerKind;
  frozenStages: number;
  config: Config;
}

/** What a finished run leaves in `<workDir>/study-result.json`: the marker that makes the study resumable. */
export interface RunResult {
  id: string;
  norm: NormKind;
  lr: number;
  optimizer: OptimizerKind;
  frozenStages: number;
  mAP: number | null;
  /** Last line of the run's collapse.jsonl, or null when the trainer wrote none. */
  finalCollapse: CollapseLogEntry | null;
  seconds: number;
  /** Set when training ended early (diverged): the figures are those of the last measurement before. */
  failure?: string;
}

export const RESULT_FILE = 'study-result.json';

/** `bn_sgd_lr0.01_frozen1`: the run's id and work-dir name. */
export function runId(norm: NormKind, optimizer: OptimizerKind, lr: number, frozenStages: number): string {
  return `${norm}_${optimizer}_lr${lr}_frozen${frozenStages}`;
}

/**
 * The runs of a grid, norm-major then optimizer, learning rate, frozen stages. Each config is the base with the
 * cell's settings; BN and psBN train their affine parameters and running statistics (normAffineTrainable true,
 * normEval false), FrozenBN keeps them fixed.
 */
export function expandGrid(base: Config, grid: GridSpec, studyDir: string): StudyRun[] {
  for (const [key, list] of Object.entries({ norms: grid.norms, lrs: grid.lrs, optimizers: grid.optimizers, frozenStages: grid.frozenStages })) {
    if (list.length === 0) throw new Error(`study grid: ${key} is empty`);
  }
  const runs: StudyRun[] = [];
  for (const norm of grid.norms) {
    for (const optimizer of grid.optimizers) {
      for (const lr of grid.lrs) {
        for (const frozenStages of grid.frozenStages) {
          const id = runId(norm, optimizer, lr, frozenStages);
          const config = structuredClone(base);
          config.name = `${base.name}/${id}`;
          config.workDir = join(studyDir, 'runs', id);
          Object.assign(config.model, { norm, ...normPreset(norm) });
          config.model.frozenStages = frozenStages;
          config.solver.optimizer = optimizer;
          config.solver.baseLr = lr;
          config.solver.weightDecayNorm = grid.normWeightDecay ?? base.solver.weightDecay;
          runs.push({ id, norm, lr, optimizer, frozenStages, config });
        }
      }
    }
  }
  return runs;
}

/** The finished result of a run, or null when it has not finished. */
export function readRunResult(workDir: string): RunResult | null {
  const path = join(workDir, RESULT_FILE);
  if (!existsSync(path)) return null;
  return JSON.parse(readFileSync(path, 'utf8')) as RunResult;
}

/** The results of the runs that have finished, in grid order (for a report while the study is still running). */
export function readFinished(runs: StudyRun[]): RunResult[] {
  return runs.map((run) => readRunResult(run.config.workDir)).filter((r): r is RunResult => r !== null);
}

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

export interface GridProgress {
  onSkip?(run: StudyRun, result: RunResult): void;
  onStart?(run: StudyRun, index: number, total: number): void;
  onFinish?(run: StudyRun, result: RunResult): void;
}

/**
 * Runs the grid one run after another. A run whose work dir holds `study-result.json` is skipped, so a killed
 * study resumes where it stopped (an unfinished run starts again in its own dir; the trainer may resume from its
 * last checkpoint there). Each run's resolved config is written beside it before training.
 */
export async function runGrid(runs: StudyRun[], runTraining: RunTraining, progress: GridProgress = {}): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for (const [index, run] of runs.entries()) {
    const done = readRunResult(run.config.workDir);
    if (done !== null) {
      progress.onSkip?.(run, done);
      results.push(done);
      continue;
    }
    mkdirSync(run.config.workDir, { recursive: true });
    writeJsonAtomic(join(run.config.workDir, 'study-config.json'), run.config);
    progress.onStart?.(run, index, runs.length);
    const started = Date.now();
    const trained = await runTraining(run.config);
    const log = latestAttempt(readCollapseLog(join(run.config.workDir, 'collapse.jsonl')));
    const result: RunResult = {
      id: run.id,
      norm: run.norm,
      lr: run.lr,
      optimizer: run.optimizer,
      frozenStages: run.frozenStages,
      mAP: trained.mAP,
      finalCollapse: log.at(-1) ?? null,
      seconds: (Date.now() - started) / 1000,
      ...(trained.failure !== undefined ? { failure: trained.failure } : {}),
    };
    writeJsonAtomic(join(run.config.workDir, RESULT_FILE), result);
    progress.onFinish?.(run, result);
    results.push(result);
  }
  return results;
}

function stageRatio(entry: CollapseLogEntry | null, stage: Stage | 'total', key: 'deadRatio' | 'paramCollapsedRatio'): number | null {
  if (entry === null) return null;
  const row: CollapseLogStage | undefined = stage === 'total' ? entry.total : entry.stages.find((s) => s.stage === stage);
  return row === undefined ? null : row[key];
}

const BACKBONE: readonly Stage[] = ['stem', 'res2', 'res3', 'res4', 'res5'];

/**
 * Dead ratio over the backbone stages (stem..res5) together: the sites a norm layer (BN / psBN) feeds or follows.
 * The FPN and the RetinaNet head have no norm, so the norm choice acts on them only through the features.
 */
export function backboneDeadRatio(entry: CollapseLogEntry | null): number | null {
  if (entry === null) return null;
  const rows = entry.stages.filter((s) => BACKBONE.includes(s.stage as Stage));
  const channels = rows.reduce((n, s) => n + s.channels, 0);
  return channels === 0 ? null : rows.reduce((n, s) => n + s.dead, 0) / channels;
}

/** Stages that appear in any of the entries, in STAGES order. */
function observedStages(entries: Array<CollapseLogEntry | null>): Stage[] {
  const seen = new Set(entries.flatMap((e) => e?.stages.map((s) => s.stage) ?? []));
  return STAGES.filter((s) => seen.has(s));
}

function fmtMap(mAP: number | null): string {
  return mAP === null ? '-' : (100 * mAP).toFixed(1);
}

/** A Markdown table from a header and rows (pipes in cells escaped). */
export function markdownTable(header: string[], rows: string[][]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [`| ${header.map(cell).join(' | ')} |`, `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`];
  for (const r of rows) lines.push(`| ${r.map(cell).join(' | ')} |`);
  return lines.join('\n');
}

export interface ReportOptions {
  /** Title of the Markdown report. */
  title: string;
  /** Lines describing the setup (model, data, schedule, thresholds), shown under the title. */
  setup: string[];
}

/**
 * Writes `<studyDir>/report.md` with the final mAP and dead ratio per stage of every run, the comparisons the study
 * is about (learning rate, Adam vs SGD, psBN vs BN, each with the other settings equal), and plots (SVG + PNG in
 * `<studyDir>/plots/`, the PNGs embedded): dead ratio per stage against iteration for every run, total dead ratio
 * of all runs against iteration, and final dead ratio per stage per run. Returns the report's path.
 */
export async function writeGridReport(studyDir: string, runs: StudyRun[], results: RunResult[], options: ReportOptions): Promise<string> {
  const plotsDir = join(studyDir, 'plots');
  const byId = new Map(results.map((r) => [r.id, r]));
  const finished = runs.filter((r) => byId.has(r.id));
  const logs = new Map(finished.map((r) => [r.id, latestAttempt(readCollapseLog(join(r.config.workDir, 'collapse.jsonl')))]));
  const stages = observedStages(finished.map((r) => byId.get(r.id)!.finalCollapse));
  const thresholds = finished.map((r) => byId.get(r.id)!.finalCollapse?.thresholds).find((t) => t !== undefined);
  const md: string[] = [`# ${options.title}`, '', ...options.setup.map((l) => `- ${l}`)];
  if (thresholds !== undefined) {
    md.push(`- Dead: ReLU input <= ${thresholds.deadThreshold} at every position of every probe image; parameter view: |γ| < ${thresholds.gammaThreshold} and β+α <= 0.`);
  }
  md.push(`- Runs finished: ${finished.length} of ${runs.length}.`, '');

  md.push('## Final figures per run', '');
  md.push(
    markdownTable(
      ['run', 'norm', 'optimizer', 'lr', 'frozen', 'mAP', ...stages.map((s) => `dead ${s}`), 'dead backbone', 'dead total', 'param-collapsed total', 'minutes'],
      finished.map((run) => {
        const r = byId.get(run.id)!;
        return [
          run.id, run.norm, run.optimizer, String(run.lr), String(run.frozenStages), r.failure !== undefined ? 'diverged' : fmtMap(r.mAP),
          ...stages.map((s) => percent(stageRatio(r.finalCollapse, s, 'deadRatio'))),
          percent(backboneDeadRatio(r.finalCollapse)),
          percent(stageRatio(r.finalCollapse, 'total', 'deadRatio')),
          percent(stageRatio(r.finalCollapse, 'total', 'paramCollapsedRatio')),
          (r.seconds / 60).toFixed(1),
        ];
      }),
    ),
    '',
  );
  md.push('mAP is COCO AP@[.5:.95] in percent on the val split; dead figures are % of the stage\'s ReLU channels at the last collapse measurement.', '');
  for (const run of finished) {
    const failure = byId.get(run.id)!.failure;
    if (failure !== undefined) md.push(`- ${run.id} ended early: ${failure}`);
  }
  md.push('');

  md.push(...comparisonSections(finished, byId, stages));

  if (finished.length > 0) {
    md.push('## Plots', '');
    const totalSeries: RatioSeries[] = finished.map((run) => ({
      name: run.id,
      points: (logs.get(run.id) ?? []).map((e) => [e.iteration, e.total.deadRatio] as [number, number]),
      group: run.norm,
    }));
    const total = await writeChart(
      ratioLinesSpec({
        title: 'Dead channels, whole network, against iteration',
        yTitle: 'dead channels (% of all ReLU channels)',
        groupTitle: 'norm',
        series: totalSeries,
        width: 640,
      }),
      join(plotsDir, 'dead-total'),
    );
    md.push(`![dead channels against iteration](${relative(studyDir, total.png)})`, '', `(Dash pattern: the norm. SVG: ${relative(studyDir, total.svg)})`, '');
    const bars = await writeChart(
      ratioBarsSpec({
        title: 'Dead channels per stage at the end of each run',
        xTitle: 'stage',
        yTitle: 'dead channels (% of stage)',
        categories: stages,
        groups: finished.map((run) => ({ name: run.id, values: stages.map((s) => stageRatio(byId.get(run.id)!.finalCollapse, s, 'deadRatio')) })),
      }),
      join(plotsDir, 'dead-final-per-stage'),
    );
    md.push(`![dead channels per stage at the end](${relative(studyDir, bars.png)})`, '');
    md.push('### Dead ratio per stage against iteration, per run', '');
    for (const run of finished) {
      const log = logs.get(run.id) ?? [];
      const series: RatioSeries[] = stages.map((stage) => ({
        name: stage,
        points: log.map((e) => [e.iteration, stageRatio(e, stage, 'deadRatio')] as [number, number | null]),
      }));
      const chart = await writeChart(
        ratioLinesSpec({ title: `Dead channels per stage: ${run.id}`, yTitle: 'dead channels (% of stage)', series }),
        join(plotsDir, `dead-per-stage-${run.id}`),
      );
      md.push(`![${run.id}](${relative(studyDir, chart.png)})`, '');
    }
  }
  const path = join(studyDir, 'report.md');
  writeFileSync(path, `${md.join('\n')}\n`);
  return path;
}

/**
 * The study's three questions as tables of final total dead ratios, each comparing runs equal in every other
 * setting: by learning rate, Adam against SGD, psBN against BN.
 */
function comparisonSections(finished: StudyRun[], byId: Map<string, RunResult>, stages: Stage[]): string[] {
  const out: string[] = [];
  const dead = (run: StudyRun) => stageRatio(byId.get(run.id)!.finalCollapse, 'total', 'deadRatio');
  const key = (run: StudyRun, omit: 'lr' | 'optimizer' | 'norm') =>
    [omit === 'norm' ? '' : run.norm, omit === 'optimizer' ? '' : run.optimizer, omit === 'lr' ? '' : `lr ${run.lr}`, `frozen ${run.frozenStages}`]
      .filter((s) => s !== '')
      .join(', ');
  const section = (title: string, omit: 'lr' | 'optimizer' | 'norm', label: (r: StudyRun) => string, values: string[]) => {
    if (values.length < 2) return;
    const groups = new Map<string, StudyRun[]>();
    for (const run of finished) groups.set(key(run, omit), [...(groups.get(key(run, omit)) ?? []), run]);
    const rows = [...groups.entries()]
      .filter(([, rs]) => rs.length > 1)
      .map(([k, rs]) => [k, ...values.map((v) => {
        const run = rs.find((r) => label(r) === v);
        if (run === undefined) return '-';
        const r = byId.get(run.id)!;
        return `${percent(backboneDeadRatio(r.finalCollapse))} / ${percent(dead(run))} (${r.failure !== undefined ? 'diverged' : `mAP ${fmtMap(r.mAP)}`})`;
      })]);
    if (rows.length === 0) return;
    out.push(`## ${title}`, '', markdownTable(['other settings', ...values], rows), '');
  };
  const uniq = <T,>(xs: T[]) => [...new Set(xs)];
  section('Dead channels by learning rate', 'lr', (r) => `lr ${r.lr}`, uniq(finished.map((r) => r.lr)).sort((a, b) => a - b).map((lr) => `lr ${lr}`));
  section('Dead channels: Adam against SGD', 'optimizer', (r) => r.optimizer, uniq(finished.map((r) => r.optimizer)));
  section('Dead channels: psBN against BN', 'norm', (r) => r.norm, uniq(finished.map((r) => r.norm)));
  if (stages.length > 0 && out.length > 0) {
    out.push('Cells: dead % of the backbone\'s ReLU channels (stem..res5, where the norm layers are) / of all ReLU channels, at the end of the run (final mAP in brackets).', '');
  }
  return out;
}

/** A probe pass: the collapse report of `checkpoint` loaded into a model built from `config`. */
export type MeasureCollapse = (config: Config, checkpoint: string) => Promise<CollapseReport>;

/** Fine-tunes from `checkpoint`'s weights with `config` (in config.workDir); returns the final checkpoint. */
export type FineTune = (config: Config, checkpoint: string) => Promise<TrainingResult & { checkpoint: string }>;

export interface RevivalSpec {
  /** A checkpoint with collapsed filters (e.g. the end of a BN + Adam run at a large learning rate). */
  checkpoint: string;
  /** Norms to fine-tune with; default psbn and bn. */
  norms?: NormKind[];
  normWeightDecay?: number;
}

export interface RevivalResult {
  norm: NormKind;
  mAP: number | null;
  /** Per stage and total: dead at the start (the checkpoint under this norm), dead at the end, revived. */
  rows: StageRevival[];
  before: CollapseReport;
  after: CollapseReport;
}

/**
 * The revival study: for each norm, measure the checkpoint's dead channels under that norm, fine-tune from it in
 * `<studyDir>/revive/<norm>`, measure again and compare channel by channel. Resumable per norm (a finished norm's
 * `revival-result.json` is read back). How a BN checkpoint is loaded into a psBN model (whether beta is shifted by
 * -alpha so that the start computes the same function) is the `measure` / `fineTune` implementation's choice; the
 * "dead at start" column is measured on the model as fine-tuning starts, so any shift shows there.
 */
export async function runRevival(
  base: Config,
  spec: RevivalSpec,
  studyDir: string,
  deps: { measure: MeasureCollapse; fineTune: FineTune; onStart?: (norm: NormKind) => void },
): Promise<RevivalResult[]> {
  const results: RevivalResult[] = [];
  for (const norm of spec.norms ?? ['psbn', 'bn']) {
    const config = structuredClone(base);
    config.name = `${base.name}/revive-${norm}`;
    config.workDir = join(studyDir, 'revive', norm);
    Object.assign(config.model, { norm, ...normPreset(norm) });
    config.solver.weightDecayNorm = spec.normWeightDecay ?? base.solver.weightDecay;
    const resultPath = join(config.workDir, 'revival-result.json');
    if (existsSync(resultPath)) {
      results.push(JSON.parse(readFileSync(resultPath, 'utf8')) as RevivalResult);
      continue;
    }
    mkdirSync(config.workDir, { recursive: true });
    writeJsonAtomic(join(config.workDir, 'study-config.json'), config);
    deps.onStart?.(norm);
    const before = await deps.measure(config, spec.checkpoint);
    const tuned = await deps.fineTune(config, spec.checkpoint);
    const after = await deps.measure(config, tuned.checkpoint);
    const result: RevivalResult = { norm, mAP: tuned.mAP, rows: compareDead(before, after), before, after };
    writeJsonAtomic(resultPath, result);
    results.push(result);
  }
  return results;
}

/** Writes `<studyDir>/revival.md` (a table per norm and a bar chart of revived channels per stage); returns its path. */
export async function writeRevivalReport(studyDir: string, results: RevivalResult[], options: ReportOptions): Promise<string> {
  const md: string[] = [`# ${options.title}`, '', ...options.setup.map((l) => `- ${l}`), ''];
  const first = results[0];
  if (first !== undefined) {
    const t = first.before.thresholds;
    md.push(`Dead: ReLU input <= ${t.deadThreshold} at every position of every probe image (${first.before.images} images).`, '');
  }
  for (const r of results) {
    md.push(`## Fine-tuned with ${r.norm} (final mAP ${fmtMap(r.mAP)})`, '');
    md.push(
      markdownTable(
        ['stage', 'channels', 'dead at start', 'dead at end', 'revived', 'revived %', 'newly dead'],
        r.rows.map((row) => [row.stage, String(row.channels), String(row.deadBefore), String(row.deadAfter), String(row.revived), percent(row.revivedRatio), String(row.newlyDead)]),
      ),
      '',
    );
  }
  const stages = STAGES.filter((s) => results.some((r) => r.rows.some((row) => row.stage === s)));
  if (results.length > 0 && stages.length > 0) {
    const chart = await writeChart(
      ratioBarsSpec({
        title: 'Channels dead at the start that are alive after fine-tuning',
        xTitle: 'stage',
        yTitle: 'revived (% of channels dead at start)',
        yMax: 1,
        categories: stages,
        groups: results.map((r) => ({ name: r.norm, values: stages.map((s) => r.rows.find((row) => row.stage === s)?.revivedRatio ?? null) })),
      }),
      join(studyDir, 'plots', 'revived-per-stage'),
    );
    md.push(`![revived channels per stage](${relative(studyDir, chart.png)})`, '');
  }
  const path = join(studyDir, 'revival.md');
  writeFileSync(path, `${md.join('\n')}\n`);
  return path;
}

/** The grid results as a plain-text table for the CLI. */
export function formatGridTable(results: RunResult[]): string {
  const stages = observedStages(results.map((r) => r.finalCollapse));
  return formatTable(
    ['run', 'mAP', ...stages, 'total'],
    results.map((r) => [r.id, fmtMap(r.mAP), ...stages.map((s) => percent(stageRatio(r.finalCollapse, s, 'deadRatio'))), percent(stageRatio(r.finalCollapse, 'total', 'deadRatio'))]),
  );
}
