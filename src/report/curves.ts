/**
 * The curves of a run, from its records: losses (each term and the total, raw and smoothed), learning rate,
 * gradient norm, iteration and data time, AP / AP50 / AP75 and AP per object size over iterations, and the
 * collapsed-filter ratio per stage over iterations (norm-fed and norm-free sites apart). Pure: records in,
 * {@link CurveSet}s and Vega-Lite specs out; `writeCurves` renders them to SVG + PNG files.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CollapseLogEntry } from '../analysis/collapse-log.js';
import { renderChart, type ChartSpec } from '../util/charts.js';
import type { RunRecords } from './records.js';

/** One line of a chart: `points` are [iteration, value] in iteration order. */
export interface CurveSeries {
  name: string;
  /** 'raw' lines are drawn faint behind their 'smoothed' twin; 'plain' lines are drawn once. */
  variant: 'plain' | 'raw' | 'smoothed';
  points: Array<[number, number]>;
}

/** A chart's worth of series with its titles. `file` is the base name of its SVG / PNG. */
export interface CurveSet {
  file: string;
  title: string;
  yTitle: string;
  /** 'percent': values are 0..1 ratios shown as %; 'linear': values as they are; 'log': a log axis (learning rate). */
  scale: 'linear' | 'percent' | 'log';
  series: CurveSeries[];
  /** Small multiples: one panel per stage (columns) and site kind (rows); set for the collapse curves. */
  panels?: { column: string; row: string; points: Array<{ column: string; row: string; iteration: number; value: number }> };
}

/** TensorBoard's smoothing weight: each smoothed value keeps 0.6 of the previous one. */
export const SMOOTHING = 0.6;

/**
 * Exponential moving average with TensorBoard's debiasing: s_t = w s_{t-1} + (1 - w) x_t, divided by 1 - w^t so
 * the first values are not pulled towards 0. Non-finite values are passed over (they keep the previous average).
 */
export function smooth(values: readonly number[], weight = SMOOTHING): number[] {
  let last = 0;
  let steps = 0;
  return values.map((v) => {
    if (!Number.isFinite(v)) return steps === 0 ? v : last / (1 - weight ** steps);
    last = weight * last + (1 - weight) * v;
    steps += 1;
    return last / (1 - weight ** steps);
  });
}

/** The training curves, the evaluation curves and the collapse curves of a run; sets with no point are left out. */
export function runCurves(records: RunRecords): CurveSet[] {
  const sets = [...trainingCurves(records), ...evaluationCurves(records), ...collapseCurves(records.collapse)];
  return sets.filter((s) => s.series.some((series) => series.points.length > 0) || (s.panels?.points.length ?? 0) > 0);
}

function trainingCurves({ train }: RunRecords): CurveSet[] {
  const its = train.map((r) => r.iteration);
  const line = (name: string, values: number[], variant: CurveSeries['variant'] = 'plain'): CurveSeries => ({
    name,
    variant,
    points: its.map((it, i) => [it, values[i]!] as [number, number]).filter(([, v]) => Number.isFinite(v)),
  });
  const terms = [...new Set(train.flatMap((r) => Object.keys(r.losses)))].sort((a, b) => (a === 'loss' ? 1 : b === 'loss' ? -1 : a.localeCompare(b)));
  const lossSeries = terms.flatMap((term) => {
    const raw = train.map((r) => r.losses[term] ?? Number.NaN);
    return [line(term, raw, 'raw'), line(term, smooth(raw), 'smoothed')];
  });
  return [
    { file: 'loss', title: 'Training loss (mean over each log period)', yTitle: 'loss', scale: 'linear', series: lossSeries },
    { file: 'lr', title: 'Learning rate', yTitle: 'learning rate', scale: 'log', series: [line('lr', train.map((r) => r.lr))] },
    { file: 'grad_norm', title: 'Gradient norm (before clipping)', yTitle: 'global L2 norm', scale: 'linear', series: [line('grad_norm', train.map((r) => r.gradNorm))] },
    {
      file: 'time',
      title: 'Time per iteration',
      yTitle: 'seconds',
      scale: 'linear',
      series: [
        line('time', train.map((r) => r.time)),
        line('data_time', train.map((r) => r.dataTime)),
        line('forward_backward', train.map((r) => r.forwardBackwardTime)),
        line('optimizer', train.map((r) => r.optimizerTime)),
      ],
    },
  ];
}

/** Classes on the per-class chart: the best ones at the last evaluation (80 lines would not read). */
export const PER_CLASS_LINES = 10;

function evaluationCurves({ evals, perClass }: RunRecords): CurveSet[] {
  // -1: no ground truth in that setting (pycocotools' convention); such a value is no point.
  const line = (name: string): CurveSeries => ({
    name,
    variant: 'plain',
    points: evals
      .map((e) => [e.iteration, e.stats[name]] as [number, number | undefined])
      .filter((p): p is [number, number] => typeof p[1] === 'number' && p[1] >= 0),
  });
  return [
    { file: 'ap', title: 'COCO AP on the val set', yTitle: 'AP', scale: 'percent', series: ['AP', 'AP50', 'AP75'].map(line) },
    { file: 'ap_size', title: 'COCO AP per object size', yTitle: 'AP (IoU .50:.95)', scale: 'percent', series: ['APs', 'APm', 'APl'].map(line) },
    perClassCurves(perClass),
  ];
}

/** AP per class over evaluations; with more than {@link PER_CLASS_LINES} classes, the best at the last one. */
function perClassCurves(records: RunRecords['perClass']): CurveSet {
  const last = records.at(-1)?.ap ?? {};
  const names = Object.keys(last)
    .filter((n) => (last[n] ?? -1) >= 0)
    .sort((a, b) => last[b]! - last[a]! || a.localeCompare(b))
    .slice(0, PER_CLASS_LINES);
  const all = Object.keys(last).filter((n) => (last[n] ?? -1) >= 0).length;
  return {
    file: 'ap_per_class',
    title: all > names.length ? `AP per class (the ${names.length} best of ${all})` : 'AP per class',
    yTitle: 'AP (IoU .50:.95)',
    scale: 'percent',
    series: names.map((name) => ({
      name,
      variant: 'plain' as const,
      points: records.filter((r) => (r.ap[name] ?? -1) >= 0).map((r) => [r.iteration, r.ap[name]!] as [number, number]),
    })),
  };
}

/**
 * Dead-channel ratio per stage over iterations, one panel per stage and site kind: norm-fed sites (a norm layer
 * feeds the ReLU) and norm-free ones. Entries written before the split was logged give one 'all sites' row.
 */
export function collapseCurves(entries: readonly CollapseLogEntry[]): CurveSet[] {
  const points: Array<{ column: string; row: string; iteration: number; value: number }> = [];
  for (const entry of entries) {
    for (const stage of entry.stages) {
      const kinds = stage.bySiteKind;
      if (kinds === undefined) {
        points.push({ column: stage.stage, row: 'all sites', iteration: entry.iteration, value: stage.deadRatio });
        continue;
      }
      for (const [row, figures] of [
        ['norm-fed sites', kinds.normFed],
        ['norm-free sites', kinds.normFree],
      ] as const) {
        if (figures.channels > 0) points.push({ column: stage.stage, row, iteration: entry.iteration, value: figures.dead / figures.channels });
      }
    }
  }
  return [
    {
      file: 'collapse',
      title: 'Dead channels per stage (ReLU output zero on every probe image)',
      yTitle: 'dead channels',
      scale: 'percent',
      series: [],
      panels: { column: 'stage', row: 'sites', points },
    },
  ];
}

const SERIES_COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** A Vega-Lite spec of one curve set: lines with a dot on every point (a single measurement is a visible dot). */
export function curveSpec(set: CurveSet, size = { width: 400, height: 210 }): ChartSpec {
  const yAxis = set.scale === 'percent' ? { title: set.yTitle, format: '.0%' } : { title: set.yTitle };
  const plotted = set.series.flatMap((s) => s.points.map(([, v]) => v));
  // Ratios start at 0 and show at least 0..10 %, so an all-zero curve sits on a readable axis.
  const yScale =
    set.scale === 'log' ? { type: 'log' as const } : set.scale === 'percent' ? { domainMin: 0, domainMax: Math.max(0.1, ...plotted) } : { zero: false };
  const xAxis = { field: 'iteration', type: 'quantitative', title: 'iteration', axis: { tickMinStep: 1, format: 'd' } } as const;
  if (set.panels !== undefined) {
    const order = (key: 'column' | 'row'): string[] => [...new Set(set.panels!.points.map((p) => p[key]))];
    return {
      title: { text: set.title },
      data: { values: set.panels.points },
      facet: {
        column: { field: 'column', type: 'nominal', title: set.panels.column, sort: order('column') },
        row: { field: 'row', type: 'nominal', title: set.panels.row, sort: order('row') },
      },
      spec: {
        width: 110,
        height: 90,
        mark: { type: 'line', point: { filled: true, size: 30 }, color: '#1f77b4' },
        encoding: {
          x: xAxis,
          y: { field: 'value', type: 'quantitative', axis: yAxis, scale: { domain: [0, 1] } },
        },
      },
    } as ChartSpec;
  }
  const alpha = { raw: 0.3, smoothed: 1, plain: 1 } as const;
  const values = set.series.flatMap((s) =>
    s.points.map(([iteration, value]) => ({ series: s.name, variant: s.variant, alpha: alpha[s.variant], iteration, value })),
  );
  const names = set.series.map((s) => s.name).filter((n, i, all) => all.indexOf(n) === i);
  const hasRaw = set.series.some((s) => s.variant === 'raw');
  return {
    title: { text: set.title, ...(hasRaw ? { subtitle: `faint: each logged value; solid: smoothed (EMA, weight ${SMOOTHING})` } : {}) },
    width: size.width,
    height: size.height,
    data: { values },
    mark: { type: 'line', point: { filled: true, size: 24 }, strokeWidth: 1.8 },
    encoding: {
      x: xAxis,
      y: { field: 'value', type: 'quantitative', axis: yAxis, scale: yScale },
      // a marker shape per series, so curves that coincide (three APs at 0) still show each one
      shape: { field: 'series', type: 'nominal', title: null, scale: { domain: names }, sort: names },
      color: { field: 'series', type: 'nominal', title: null, scale: { domain: names, range: SERIES_COLOURS.slice(0, Math.max(1, names.length)) }, sort: names },
      detail: { field: 'variant', type: 'nominal' },
      opacity: { field: 'alpha', type: 'quantitative', scale: null, legend: null },
    },
  } as ChartSpec;
}

/** A rendered curve: where its files are and its SVG text (for the report page). */
export interface RenderedCurve {
  file: string;
  title: string;
  svg: string;
}

/**
 * Renders every curve set of `records` to `<dir>/<file>.svg` and `.png`, and writes `<dir>/curves.json` (the
 * series themselves). Files are replaced atomically, so a reader never sees half a chart.
 */
export async function writeCurves(dir: string, records: RunRecords): Promise<RenderedCurve[]> {
  mkdirSync(dir, { recursive: true });
  const sets = runCurves(records);
  const rendered: RenderedCurve[] = [];
  for (const set of sets) {
    const { svg, png } = await renderChart(curveSpec(set));
    writeAtomic(join(dir, `${set.file}.svg`), svg);
    writeAtomic(join(dir, `${set.file}.png`), png);
    rendered.push({ file: set.file, title: set.title, svg });
  }
  writeAtomic(join(dir, 'curves.json'), `${JSON.stringify(sets)}\n`);
  return rendered;
}

/** Writes through a temporary file in the same directory and renames it into place. */
export function writeAtomic(path: string, data: string | Buffer): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
