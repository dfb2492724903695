/**
 * eval-det --analyze: runs the error analysis, prints its table and writes `analysis.json` and the plots
 * (`overall.svg` / `.png`; with --per-category also `supercategory-NAME` and `category-ID-NAME`) into one directory.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeErrors, ANALYSIS_STEPS, type ErrorAnalysis, type StepCurves } from '../eval/analyze.js';
import { analysisChartSpec, analysisTable, categoryTitle } from '../eval/analyze-plot.js';
import type { DetectionSet, EvalParams } from '../eval/cocoeval.js';
import type { LoadedGroundTruth } from '../eval/coco-json.js';
import { renderChart } from '../util/charts.js';
import { InputError } from '../util/errors.js';
import type { AnalysisRequest } from './eval-det-options.js';

function cannotWrite(path: string, err: unknown): InputError {
  return new InputError(`${path}: cannot write (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
}

/** Writes a file through a temporary name, so a failed write leaves no half file behind. */
function writeFileAtomic(path: string, data: string | Buffer): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // the error that matters is the write's
    }
    throw cannotWrite(path, err);
  }
}

/** A file-name-safe form of a label: letters, digits, '-' and '_' kept, anything else '_'. */
function fileSafe(label: string): string {
  return label.replace(/[^A-Za-z0-9_-]+/g, '_');
}

function curvesJson(c: StepCurves, R: number): { ap: Record<string, number>; precision: Record<string, number[]> } {
  return {
    ap: Object.fromEntries(ANALYSIS_STEPS.map((s, i) => [s, c.ap[i]!])),
    precision: Object.fromEntries(ANALYSIS_STEPS.map((s, i) => [s, Array.from(c.precision.subarray(i * R, (i + 1) * R))])),
  };
}

/** The analysis as a JSON-ready object: per step the AP and the precision at each recall threshold. */
function analysisJson(a: ErrorAnalysis, names: ReadonlyMap<number, string>): object {
  const R = a.recThrs.length;
  return {
    steps: a.steps,
    maxDets: a.maxDets,
    areaRng: a.areaRng,
    recThrs: a.recThrs,
    overall: { categoryIds: a.overall.categoryIds, ...curvesJson(a.overall, R) },
    bySuperCategory: a.bySuperCategory.map((g) => ({ superCategory: g.superCategory, categoryIds: g.categoryIds, ...curvesJson(g, R) })),
    perCategory: a.perCategory.map((c) => ({
      categoryId: c.categoryId,
      name: names.get(c.categoryId) ?? String(c.categoryId),
      superCategory: c.superCategory ?? null,
      numGt: c.numGt,
      ...curvesJson(c, R),
    })),
  };
}

export async function writeErrorAnalysis(gt: LoadedGroundTruth, dt: DetectionSet, params: EvalParams, request: AnalysisRequest): Promise<void> {
  const started = performance.now();
  const analysis = analyzeErrors(gt, dt, { params, superCategories: gt.superCategories });
  const seconds = (performance.now() - started) / 1000;
  console.log('');
  console.log(`Error analysis (area=all, maxDets=${analysis.maxDets}; AP at each step; ${seconds.toFixed(2)} s):`);
  console.log('  C75, C50: IoU .75, .50 | Loc: IoU .10 | Sim: + super-category confusion forgiven | Oth: + all class confusion forgiven');
  console.log('  BG: + background false positives removed | FN: 1 (the rest: objects never detected)');
  console.log(analysisTable(analysis, gt.categoryNames));

  try {
    mkdirSync(request.dir, { recursive: true });
  } catch (err) {
    throw cannotWrite(request.dir, err);
  }
  writeFileAtomic(join(request.dir, 'analysis.json'), `${JSON.stringify(analysisJson(analysis, gt.categoryNames))}\n`);
  const subtitle = (what: string): string => `${what}, area all, maxDets ${analysis.maxDets}`;
  const figures: { base: string; curves: StepCurves; title: string; subtitle: string }[] = [
    { base: 'overall', curves: analysis.overall, title: 'overall', subtitle: subtitle(`${analysis.overall.categoryIds.length} categories`) },
  ];
  if (request.perCategory) {
    for (const g of analysis.bySuperCategory) {
      if (g.categoryIds.length === 0) continue; // no ground truth in any of its categories
      figures.push({ base: `supercategory-${fileSafe(g.superCategory)}`, curves: g, title: g.superCategory, subtitle: subtitle(`${g.categoryIds.length} categories`) });
    }
    for (const c of analysis.perCategory) {
      if (c.numGt === 0) continue;
      const name = gt.categoryNames.get(c.categoryId) ?? String(c.categoryId);
      figures.push({ base: `category-${c.categoryId}-${fileSafe(name)}`, curves: c, title: categoryTitle(c, gt.categoryNames), subtitle: subtitle(`${c.numGt} objects`) });
    }
  }
  for (const f of figures) {
    const { svg, png } = await renderChart(analysisChartSpec(f.curves, analysis.recThrs, { title: f.title, subtitle: f.subtitle }));
    writeFileAtomic(join(request.dir, `${f.base}.svg`), svg);
    writeFileAtomic(join(request.dir, `${f.base}.png`), png);
  }
  console.log(`\nWrote ${join(request.dir, 'analysis.json')} and ${figures.length} figure${figures.length === 1 ? '' : 's'} (SVG + PNG) to ${request.dir}`);
}
