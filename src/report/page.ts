/**
 * The report page of a run: one self-contained HTML document (inline CSS, inline SVG charts, images as data: URIs,
 * no script, no external URL) that a browser opens from disk with no server and no network. Pure: the parts in,
 * the HTML text out.
 */
import type { CollapseLogEntry } from '../analysis/collapse-log.js';

/** Per-class AP row: figures 0..1, -1 where the class has no ground truth. */
export interface ClassApRow {
  name: string;
  ap: number;
  ap50: number;
  ap75: number;
}

export interface RunPageParts {
  title: string;
  /** Where the page and the run live, shown under the title. */
  workDir: string;
  generatedAt: string;
  /** Key / value pairs of the config summary, and the whole resolved config (shown folded). */
  configSummary: Array<[string, string]>;
  config: unknown;
  /** The environment lines of the run (node, cpu, tfjs-core and backend). */
  environment: string[];
  charts: Array<{ title: string; svg: string }>;
  /** The last evaluation: iteration and the 12 COCO stats by name. */
  finalEval: { iteration: number; stats: Record<string, number> } | null;
  perClass: ClassApRow[];
  collapse: CollapseLogEntry | null;
  /** Val images with the detections drawn: data: URIs with captions. */
  samples: Array<{ caption: string; dataUri: string; width: number; height: number }>;
}

/** The page's style sheet (inline: the page loads nothing). */
export const PAGE_STYLE = `
body { font: 14px/1.45 "DejaVu Sans", Helvetica, Arial, sans-serif; color: #1d1d1f; margin: 24px auto; max-width: 1240px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #555; font-size: 12px; } pre { background: #f6f6f6; padding: 8px 10px; overflow-x: auto; font-size: 12px; }
table { border-collapse: collapse; font-size: 13px; } td, th { padding: 3px 10px; border-bottom: 1px solid #e6e6e6; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; } .chart { border: 1px solid #e3e3e3; padding: 4px; }
.samples { display: flex; flex-wrap: wrap; gap: 12px; } figure { margin: 0; } figcaption { font-size: 12px; color: #555; }
.grid { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; font-size: 13px; }
`;

/** HTML-escapes text for element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * An SVG document ready to sit inside HTML: the XML prolog and the namespace declarations (implied in HTML) are
 * dropped, so the page holds no URL at all.
 */
export function inlineSvg(svg: string): string {
  return svg
    .replace(/^<\?xml[^>]*>\s*/, '')
    .replace(/\s+xmlns(:xlink)?="[^"]*"/g, '')
    .replace(/xlink:href=/g, 'href=');
}

/** A 0..1 figure as a percentage with one decimal; '-' for -1 (no ground truth) and missing values. */
export function percent(value: number | null | undefined): string {
  return value === null || value === undefined || value < 0 || !Number.isFinite(value) ? '-' : (value * 100).toFixed(1);
}

function table(header: string[], rows: string[][]): string {
  const head = `<tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
  return `<table>${head}${rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('')}</table>`;
}

/** The COCO stats table: one row per figure, in pycocotools' order. */
function cocoTable(stats: Record<string, number>): string {
  return table(
    ['figure', 'value (%)'],
    Object.entries(stats).map(([k, v]) => [k, percent(v)]),
  );
}

/** The collapse table: one row per stage and the total, dead channels over all sites and per site kind. */
export function collapseTableHtml(entry: CollapseLogEntry): string {
  const ratio = (c: { channels: number; dead: number } | undefined): string => (c === undefined || c.channels === 0 ? '-' : ((100 * c.dead) / c.channels).toFixed(1));
  const rows = [...entry.stages, entry.total].map((s) => [
    s.stage,
    String(s.channels),
    String(s.dead),
    (100 * s.deadRatio).toFixed(1),
    ratio(s.bySiteKind?.normFed),
    ratio(s.bySiteKind?.normFree),
    s.paramCollapsedRatio === null || s.paramCollapsedRatio === undefined ? '-' : (100 * s.paramCollapsedRatio).toFixed(1),
  ]);
  return table(['stage', 'channels', 'dead', 'dead %', 'dead % norm-fed', 'dead % norm-free', 'param-collapsed %'], rows);
}

/** The whole page. */
export function runPageHtml(p: RunPageParts): string {
  const sections: string[] = [];
  sections.push(
    `<h1>${escapeHtml(p.title)}</h1><div class="sub">${escapeHtml(p.workDir)} &middot; page written ${escapeHtml(p.generatedAt)}</div>`,
  );
  sections.push(
    `<h2>Config</h2><div class="grid">${p.configSummary.map(([k, v]) => `<div>${escapeHtml(k)}</div><div>${escapeHtml(v)}</div>`).join('')}</div>` +
      `<details><summary>resolved config.json</summary><pre>${escapeHtml(JSON.stringify(p.config, null, 2))}</pre></details>`,
  );
  sections.push(`<h2>Environment</h2><pre>${escapeHtml(p.environment.join('\n') || '(no log.txt)')}</pre>`);
  sections.push(
    `<h2>Curves</h2>` +
      (p.charts.length === 0
        ? '<p>No records yet.</p>'
        : `<div class="charts">${p.charts.map((c) => `<div class="chart" title="${escapeHtml(c.title)}">${inlineSvg(c.svg)}</div>`).join('')}</div>`),
  );
  sections.push(
    p.finalEval === null
      ? '<h2>COCO evaluation</h2><p>Not evaluated yet.</p>'
      : `<h2>COCO evaluation at iteration ${p.finalEval.iteration}</h2>${cocoTable(p.finalEval.stats)}`,
  );
  if (p.perClass.length > 0) {
    sections.push(
      `<h2>AP per class</h2>${table(
        ['class', 'AP', 'AP50', 'AP75'],
        p.perClass.map((r) => [r.name, percent(r.ap), percent(r.ap50), percent(r.ap75)]),
      )}`,
    );
  }
  if (p.collapse !== null) {
    const t = p.collapse.thresholds;
    sections.push(
      `<h2>Collapsed filters per stage at iteration ${p.collapse.iteration}</h2>` +
        `<div class="sub">${p.collapse.images} probe images; dead: ReLU input &le; ${t.deadThreshold} at every position of every probe image; ` +
        `param-collapsed: |&gamma;| &lt; ${t.gammaThreshold} and &beta;+&alpha; &le; 0 (norm-fed sites only)</div>${collapseTableHtml(p.collapse)}`,
    );
  }
  if (p.samples.length > 0) {
    sections.push(
      `<h2>Detections on val images</h2><div class="samples">${p.samples
        .map(
          (s) =>
            `<figure><img src="${s.dataUri}" width="${s.width}" height="${s.height}" alt="${escapeHtml(s.caption)}"><figcaption>${escapeHtml(s.caption)}</figcaption></figure>`,
        )
        .join('')}</div>`,
    );
  }
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${escapeHtml(p.title)}</title><style>${PAGE_STYLE}</style></head><body>\n${sections.join('\n')}\n</body></html>\n`;
}
