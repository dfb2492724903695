/**
 * Figures and tables of an error analysis ({@link analyzeErrors}): the precision/recall area plot of the MATLAB
 * `analyze` (each step's curve filled down to 0, the more forgiving steps behind, a legend with each step's AP as
 * "[.512] C75"), and a text table of the APs. Formatting only: nothing is written or printed here.
 */
import type { ChartSpec } from '../util/charts.js';
import { ANALYSIS_STEPS, type CategoryAnalysis, type ErrorAnalysis, type StepCurves } from './analyze.js';
import { formatFixed } from './report.js';

/** Fill of each step, C75 .. FN: blues for the standard curves, warm colours for the forgiven errors, grey for misses. */
export const STEP_COLORS = ['#1f4e79', '#3f83c4', '#9cc8ea', '#f2c14e', '#e07b39', '#9b6fc2', '#d9d9d9'] as const;

/** An AP as the MATLAB legend shows it: `.512`, `1.00` (three characters after the first). */
export function formatStepAp(ap: number): string {
  if (ap < 0) return '  - ';
  const text = formatFixed(ap, 3);
  return text === '1.000' ? '1.00' : text.slice(1);
}

/** Legend labels: `[.512] C75`, ... */
export function stepLabels(ap: readonly number[]): string[] {
  return ANALYSIS_STEPS.map((step, s) => `[${formatStepAp(ap[s]!)}] ${step}`);
}

export interface AnalysisChartOptions {
  title: string;
  subtitle?: string;
  /** Plot area in pixels (default 420 x 360). */
  width?: number;
  height?: number;
}

/**
 * The area plot of one curve set: seven series (one per step), recall on x, precision on y, both on [0, 1].
 * Areas are drawn from FN (behind) to C75 (in front), so each band shows what one step recovers.
 */
export function analysisChartSpec(curves: StepCurves, recThrs: readonly number[], options: AnalysisChartOptions): ChartSpec {
  const R = recThrs.length;
  const labels = stepLabels(curves.ap);
  const values: { recall: number; precision: number; step: string; back: number }[] = [];
  for (let s = ANALYSIS_STEPS.length - 1; s >= 0; s--) {
    for (let r = 0; r < R; r++) values.push({ recall: recThrs[r]!, precision: Math.max(0, curves.precision[s * R + r]!), step: labels[s]!, back: s });
  }
  const x = { field: 'recall', type: 'quantitative' as const, scale: { domain: [0, 1] }, axis: { title: 'recall', tickCount: 5, grid: false } };
  const y = { field: 'precision', type: 'quantitative' as const, scale: { domain: [0, 1] }, stack: null, axis: { title: 'precision', tickCount: 5, grid: false } };
  return {
    width: options.width ?? 420,
    height: options.height ?? 360,
    title: options.subtitle === undefined ? { text: options.title } : { text: options.title, subtitle: options.subtitle },
    data: { values },
    layer: [
      {
        mark: { type: 'area', opacity: 1 },
        encoding: {
          x,
          y,
          color: {
            field: 'step',
            type: 'nominal',
            scale: { domain: labels, range: [...STEP_COLORS] },
            legend: { title: null, orient: 'bottom-left', fillColor: 'white', strokeColor: '#999', padding: 6, offset: 8, symbolType: 'square', labelFont: 'DejaVu Sans Mono, monospace' },
          },
          // Draw order: FN first (behind), C75 last (in front).
          order: { field: 'back', sort: 'descending' },
        },
      },
      {
        mark: { type: 'line', color: '#333', strokeWidth: 0.6 },
        encoding: { x, y, detail: { field: 'step', type: 'nominal' } },
      },
    ],
  };
}

/** Chart title of one category: `name (super-category)`. */
export function categoryTitle(c: CategoryAnalysis, names: ReadonlyMap<number, string>): string {
  const name = names.get(c.categoryId) ?? String(c.categoryId);
  return c.superCategory === undefined ? name : `${name} (${c.superCategory})`;
}

/**
 * A text table of the APs: one row overall, one per super-category, one per category; a column per step
 * (`-`: no ground truth).
 */
export function analysisTable(analysis: ErrorAnalysis, names: ReadonlyMap<number, string>): string {
  const cell = (v: number): string => (v < 0 ? '-' : formatFixed(v, 3));
  const header = ['id', 'category', 'GT', ...ANALYSIS_STEPS];
  const rows: string[][] = [
    ['', `overall (${analysis.overall.categoryIds.length} categories)`, '', ...analysis.overall.ap.map(cell)],
    ...analysis.bySuperCategory.map((g) => ['', `${g.superCategory} (${g.categoryIds.length})`, '', ...g.ap.map(cell)]),
    ...analysis.perCategory.map((c) => [String(c.categoryId), categoryTitle(c, names), String(c.numGt), ...c.ap.map(cell)]),
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((v, i) => (i === 1 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
