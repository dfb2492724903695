/**
 * The report page of a study: its arms side by side. One self-contained `<studyDir>/report.html` with the
 * curves of every arm overlaid (smoothed total loss, AP, dead-channel ratio over the whole model and per
 * stage), a table of each arm's final figures and a relative link to each arm's own report.html.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { renderChart } from '../util/charts.js';
import { curveSpec, smooth, writeAtomic, type CurveSet } from './curves.js';
import { escapeHtml, inlineSvg, PAGE_STYLE, percent } from './page.js';
import { readRunRecords, type RunRecords } from './records.js';

export interface StudyArm {
  /** Short name shown in legends and tables, e.g. `psbn-sgd-lr0.01-f1`. */
  id: string;
  workDir: string;
}

/** The overlaid curve sets of the arms: one series per arm (arms with no point leave their series empty). */
export function studyCurves(arms: ReadonlyArray<{ id: string; records: RunRecords }>): CurveSet[] {
  const series = (pick: (r: RunRecords) => Array<[number, number]>): CurveSet['series'] =>
    arms.map(({ id, records }) => ({ name: id, variant: 'plain' as const, points: pick(records) }));
  const sets: CurveSet[] = [
    {
      file: 'loss',
      title: 'Training loss (smoothed)',
      yTitle: 'loss',
      scale: 'linear',
      series: series((r) => {
        const values = smooth(r.train.map((t) => t.losses.loss ?? Number.NaN));
        return r.train.map((t, i) => [t.iteration, values[i]!] as [number, number]).filter(([, v]) => Number.isFinite(v));
      }),
    },
    { file: 'ap', title: 'COCO AP on the val set', yTitle: 'AP', scale: 'percent', series: series((r) => r.evals.filter((e) => (e.stats.AP ?? -1) >= 0).map((e) => [e.iteration, e.stats.AP!])) },
    { file: 'dead_total', title: 'Dead channels, whole model', yTitle: 'dead channels', scale: 'percent', series: series((r) => r.collapse.map((c) => [c.iteration, c.total.deadRatio])) },
  ];
  const stages = [...new Set(arms.flatMap(({ records }) => records.collapse.flatMap((c) => c.stages.map((s) => s.stage))))];
  for (const stage of stages) {
    sets.push({
      file: `dead_${stage}`,
      title: `Dead channels, ${stage}`,
      yTitle: 'dead channels',
      scale: 'percent',
      series: series((r) =>
        r.collapse.flatMap((c) => {
          const s = c.stages.find((x) => x.stage === stage);
          return s === undefined ? [] : [[c.iteration, s.deadRatio] as [number, number]];
        }),
      ),
    });
  }
  return sets.filter((s) => s.series.some((x) => x.points.length > 0));
}

/** Writes `<studyDir>/report.html` and `<studyDir>/curves/*.svg|png`; returns the page's path. */
export async function writeStudyReport(studyDir: string, title: string, arms: readonly StudyArm[]): Promise<string> {
  const loaded = arms.map((arm) => ({ ...arm, records: readRunRecords(arm.workDir) }));
  const charts: string[] = [];
  for (const set of studyCurves(loaded)) {
    const { svg, png } = await renderChart(curveSpec(set, { width: 360, height: 200 }));
    const dir = join(studyDir, 'curves');
    mkdirSync(dir, { recursive: true });
    writeAtomic(join(dir, `${set.file}.svg`), svg);
    writeAtomic(join(dir, `${set.file}.png`), png);
    charts.push(`<div class="chart" title="${escapeHtml(set.title)}">${inlineSvg(svg)}</div>`);
  }
  const rows = loaded.map(({ id, workDir, records }) => {
    const lastEval = records.evals.at(-1);
    const lastCollapse = records.collapse.at(-1);
    const page = join(workDir, 'report.html');
    const link = existsSync(page) ? `<a href="${escapeHtml(relative(studyDir, page))}">${escapeHtml(id)}</a>` : escapeHtml(id);
    const cells = [
      String(records.train.at(-1)?.iteration ?? '-'),
      percent(lastEval?.stats.AP),
      percent(lastEval?.stats.AP50),
      percent(lastCollapse?.total.deadRatio),
      records.train.at(-1)?.losses.loss?.toFixed(3) ?? '-',
    ];
    return `<tr><td>${link}</td>${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`;
  });
  const html =
    `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${PAGE_STYLE}</style></head><body>\n` +
    `<h1>${escapeHtml(title)}</h1><div>${escapeHtml(studyDir)} &middot; ${arms.length} arm(s) &middot; page written ${new Date().toISOString()}</div>\n` +
    `<h2>Arms</h2><table><tr><th>arm</th><th>iterations</th><th>AP (%)</th><th>AP50 (%)</th><th>dead (%)</th><th>last loss</th></tr>${rows.join('')}</table>\n` +
    `<h2>Curves</h2>${charts.length === 0 ? '<p>No records yet.</p>' : `<div class="charts">${charts.join('')}</div>`}\n</body></html>\n`;
  const path = join(studyDir, 'report.html');
  writeAtomic(path, html);
  return path;
}
