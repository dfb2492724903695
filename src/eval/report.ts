/**
 * Human and JSON reports of a COCO evaluation: the 12 summary lines exactly as pycocotools prints them, a
 * per-category table, and a JSON object with everything. Formatting only: nothing here prints.
 */
import { summarySpecs, type CategoryResult, type CocoEvalResult, type EvalParams } from './cocoeval.js';

/**
 * Python's `'{:0.Nf}'.format(x)`: the exact binary value rounded to `digits` decimals, ties to even
 * (JavaScript's `toFixed` rounds exact ties up: 0.0625 -> "0.063" where Python gives "0.062").
 */
export function formatFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const plain = x.toFixed(digits);
  if (Math.abs(x) >= 1e21) return plain;
  // toFixed(100) is the exact decimal expansion of any double below 1e21 down to 1e-100.
  const exact = Math.abs(x).toFixed(100);
  const dot = exact.indexOf('.');
  if (!/^50*$/.test(exact.slice(dot + 1 + digits))) return plain; // not an exact tie: toFixed agrees with Python
  // An exact tie: toFixed rounded away from zero; Python keeps the truncated value when its last digit is even.
  const truncated = digits === 0 ? exact.slice(0, dot) : exact.slice(0, dot + 1 + digits);
  const lastDigit = Number(truncated[truncated.length - 1]);
  if (lastDigit % 2 === 1) return plain;
  return (x < 0 ? '-' : '') + truncated;
}

function padLeft(s: string, width: number): string {
  return s.length >= width ? s : ' '.repeat(width - s.length) + s;
}

function padRight(s: string, width: number): string {
  return s.length >= width ? s : s + ' '.repeat(width - s.length);
}

/**
 * The 12 summary lines, character for character as pycocotools' `summarize()` prints them:
 * ` Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505`.
 */
export function summaryLines(params: EvalParams, stats: readonly number[]): string[] {
  const iouAll = `${formatFixed(params.iouThrs[0]!, 2)}:${formatFixed(params.iouThrs[params.iouThrs.length - 1]!, 2)}`;
  return summarySpecs(params.maxDets).map((spec, i) => {
    const title = spec.ap ? 'Average Precision' : 'Average Recall';
    const type = spec.ap ? '(AP)' : '(AR)';
    const iou = spec.iouThr === undefined ? iouAll : formatFixed(spec.iouThr, 2);
    return ` ${padRight(title, 18)} ${type} @[ IoU=${padRight(iou, 9)} | area=${padLeft(spec.areaRng, 6)} | maxDets=${padLeft(String(spec.maxDets), 3)} ] = ${formatFixed(stats[i]!, 3)}`;
  });
}

/** Short names of the 12 stats for JSON: AP, AP50, AP75, APs, APm, APl, AR@m0, AR@m1, AR@m2, ARs, ARm, ARl. */
export function statNames(params: EvalParams): string[] {
  const [m0, m1, m2] = params.maxDets as [number, number, number];
  return ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', `AR@${m0}`, `AR@${m1}`, `AR@${m2}`, 'ARs', 'ARm', 'ARl'];
}

/** Name of a category for tables: the GT name, or the id; 'all' when categories are not used. */
function categoryLabel(id: number, names: ReadonlyMap<number, string> | undefined): string {
  if (id === -1) return '(all classes)';
  return names?.get(id) ?? String(id);
}

/**
 * A per-category table: id, name, AP, AP50, AP75, APs, APm, APl, AR (largest maxDets, area all), one row per
 * category. `-` marks -1 (no ground truth in that setting). `idText` writes an id as the GT writes it (string ids
 * are ranks inside the evaluator).
 */
export function perCategoryTable(rows: readonly CategoryResult[], names?: ReadonlyMap<number, string>, idText: (id: number) => string = String): string {
  const header = ['id', 'category', 'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR'];
  const cell = (v: number): string => (v === -1 ? '-' : formatFixed(v, 3));
  const body = rows.map((r) => [
    r.categoryId === -1 ? '-1' : idText(r.categoryId),
    categoryLabel(r.categoryId, names),
    cell(r.ap),
    cell(r.ap50),
    cell(r.ap75),
    cell(r.apSmall),
    cell(r.apMedium),
    cell(r.apLarge),
    cell(r.ar),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => row[c]!.length)));
  const line = (row: string[]): string => row.map((v, c) => (c === 1 ? padRight(v, widths[c]!) : padLeft(v, widths[c]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** Everything of an evaluation as a JSON-ready object (the precision/recall arrays are left out: see `accumulation`). */
export interface EvalReport {
  /** Ids as the GT writes them (numbers, or strings for a GT with string ids). */
  params: Omit<EvalParams, 'imgIds' | 'catIds'> & { numImages: number; imgIds?: (number | string)[]; catIds: (number | string)[] };
  stats: Record<string, number>;
  statsArray: number[];
  summary: string[];
  perCategory: (Omit<CategoryResult, 'categoryId'> & { categoryId: number | string; name: string })[];
}

/** How the GT writes the evaluator's ids (string ids are ranks inside the evaluator); identity by default. */
export interface IdWriters {
  image?: (id: number) => number | string;
  category?: (id: number) => number | string;
}

/**
 * The JSON report. `imgIds` is listed only when `listImages` (an explicit subset), otherwise only counted.
 */
export function evalReport(result: CocoEvalResult, names?: ReadonlyMap<number, string>, listImages = false, ids: IdWriters = {}): EvalReport {
  const { imgIds, catIds, ...rest } = result.params;
  const keys = statNames(result.params);
  const image = ids.image ?? ((id: number) => id);
  const category = ids.category ?? ((id: number) => id);
  return {
    params: { ...rest, catIds: catIds.map(category), numImages: imgIds.length, ...(listImages ? { imgIds: imgIds.map(image) } : {}) },
    stats: Object.fromEntries(keys.map((k, i) => [k, result.stats[i]!])),
    statsArray: [...result.stats],
    summary: summaryLines(result.params, result.stats),
    perCategory: result.perCategory.map((r) => ({ ...r, categoryId: r.categoryId === -1 ? -1 : category(r.categoryId), name: categoryLabel(r.categoryId, names) })),
  };
}

/** JSON text of a report: two-space indentation, arrays of numbers kept on one line. */
export function formatReportJson(report: EvalReport): string {
  const text = JSON.stringify(report, null, 2);
  return `${text.replace(/\[\s+(-?[\d.eE+-]+(?:,\s+-?[\d.eE+-]+)*)\s+\]/g, (_, inner: string) => `[${inner.split(/,\s+/).join(', ')}]`)}\n`;
}
