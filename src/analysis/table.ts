import type { CollapseReport, StageCollapse, StageRevival } from './collapse.js';

/** Column alignment of a plain-text table. */
export type Align = 'left' | 'right';

/**
 * Lays out rows as a plain-text table: a header, a rule of dashes, the rows; columns padded to their widest cell.
 * Numbers are right-aligned by default, text left-aligned.
 */
export function formatTable(header: string[], rows: string[][], align?: Align[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const alignOf = (i: number): Align => align?.[i] ?? (i === 0 ? 'left' : 'right');
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (alignOf(i) === 'left' ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A ratio as a percentage with one decimal, or "-" when it does not apply. */
export function percent(ratio: number | null): string {
  return ratio === null || !Number.isFinite(ratio) ? '-' : `${(100 * ratio).toFixed(1)}%`;
}

function stageRow(s: StageCollapse): string[] {
  return [
    s.stage,
    String(s.sites),
    String(s.channels),
    String(s.dead),
    percent(s.deadRatio),
    s.normChannels > 0 ? String(s.normChannels) : '-',
    percent(s.paramCollapsedRatio),
    percent(s.normNonPositiveRatio),
  ];
}

/**
 * The collapse report as the CLIs print it: one row per stage and a total, then the thresholds and probe size the
 * figures were computed with.
 *
 * ```
 * stage  sites  channels  dead  dead %  norm ch  param-collapsed %  max(γx̂+β+α)<=0 %
 * ```
 */
export function formatCollapseTable(report: CollapseReport, title?: string): string {
  const header = ['stage', 'sites', 'channels', 'dead', 'dead %', 'norm ch', 'param-collapsed %', 'max(γx̂+β+α)≤0 %'];
  const rows = [...report.stages.map(stageRow), stageRow(report.total)];
  const t = report.thresholds;
  const lines = [
    ...(title !== undefined ? [title] : []),
    formatTable(header, rows),
    `probe: ${report.images} image(s); dead: ReLU input <= ${t.deadThreshold} everywhere on the probe; ` +
      `param-collapsed: |γ| < ${t.gammaThreshold} and β+α <= 0 (norm-fed sites only)`,
  ];
  return lines.join('\n');
}

/** The revival comparison as a table: per stage, channels dead at the start, alive at the end. */
export function formatRevivalTable(rows: StageRevival[], title?: string): string {
  const header = ['stage', 'channels', 'dead at start', 'dead at end', 'revived', 'revived %', 'newly dead'];
  const body = rows.map((r) => [
    r.stage,
    String(r.channels),
    String(r.deadBefore),
    String(r.deadAfter),
    String(r.revived),
    percent(r.revivedRatio),
    String(r.newlyDead),
  ]);
  return [...(title !== undefined ? [title] : []), formatTable(header, body)].join('\n');
}
