/**
 * Error analysis of detections in the manner of cocoapi's MATLAB `CocoEval.analyze` (after Hoiem et al.): per
 * category, seven precision/recall curves at the 101 recall thresholds, each forgiving one more kind of error.
 *
 * - C75, C50: the standard curves at IoU .75 and .50.
 * - Loc: IoU .10, so poorly localised detections count as correct (localisation errors forgiven).
 * - Sim: IoU .10, and detections that overlap ground truth of another category of the same super-category are
 *   ignored instead of counted as false positives (confusion with similar categories forgiven).
 * - Oth: the same for ground truth of any other category (all class confusion forgiven).
 * - BG: every remaining false positive removed: precision 1 wherever Oth reaches that recall, 0 beyond.
 * - FN: 1 everywhere; the area between BG and FN is recall never reached (false negatives).
 *
 * The steps reuse the evaluator ({@link evaluateImages}, {@link accumulate}) with changed parameters and ground truth,
 * exactly as the MATLAB version reruns its evaluator: C75/C50/Loc come from one evaluation with IoU thresholds
 * .75, .5, .1; Sim and Oth evaluate one category's detections class-agnostically (`useCats` false) against its own
 * ground truth plus the other categories' ground truth marked ignored (their `area` set to -Infinity, outside every
 * area range, which leaves IoU and crowd handling untouched). Area range 'all', maxDets 100.
 *
 * Pure: columnar sets in, curves and numbers out.
 */
import {
  allocDetectionSet,
  accumulate,
  evaluateImages,
  meanValid,
  type DetectionSet,
  type EvalParams,
  type GroundTruthSet,
} from './cocoeval.js';

/** The seven steps, in order; each forgives more than the one before. */
export const ANALYSIS_STEPS = ['C75', 'C50', 'Loc', 'Sim', 'Oth', 'BG', 'FN'] as const;
export type AnalysisStep = (typeof ANALYSIS_STEPS)[number];

/** IoU threshold of the Loc, Sim and Oth steps. */
export const FORGIVING_IOU = 0.1;

/** Precision of every step at each recall threshold, and each step's AP. */
export interface StepCurves {
  /** `[S, R]` row-major (S = 7 steps, R = recall thresholds); -1 throughout where there is no ground truth. */
  precision: Float64Array;
  /** `[S]` AP of each step (mean over the recall thresholds); -1 without ground truth. */
  ap: number[];
}

export interface CategoryAnalysis extends StepCurves {
  categoryId: number;
  /** The category's super-category, or undefined when the ground truth declares none (then it has no siblings). */
  superCategory: string | undefined;
  /** Non-ignored ground truth (not crowd) of the category in the evaluated images. */
  numGt: number;
}

/** Curves averaged over a group of categories (those with ground truth). */
export interface GroupAnalysis extends StepCurves {
  /** The categories averaged (those of the group with ground truth). */
  categoryIds: number[];
}

export interface ErrorAnalysis {
  steps: readonly AnalysisStep[];
  /** Recall thresholds `[R]`. */
  recThrs: number[];
  /** Detections kept per image. */
  maxDets: number;
  /** The area range evaluated ('all'). */
  areaRng: [number, number];
  /** One entry per evaluated category, in `catIds` order. */
  perCategory: CategoryAnalysis[];
  /**
   * Mean over the categories with ground truth. Its AP is the mean over all (recall threshold, category) entries
   * taken in pycocotools' order, so the C75 and C50 APs equal the evaluator's AP75 and AP50 (area all, maxDets 100).
   */
  overall: GroupAnalysis;
  /** Mean per super-category, sorted by name (categories without one are left out). */
  bySuperCategory: (GroupAnalysis & { superCategory: string })[];
}

export interface AnalysisOptions {
  /** Images and categories to analyse, recall thresholds (other fields are set by the analysis). */
  params: Pick<EvalParams, 'imgIds' | 'catIds' | 'recThrs'>;
  /** Category id -> super-category; a category that is absent has no similar categories. */
  superCategories: ReadonlyMap<number, string>;
  /** Detections kept per image (default 100, as the MATLAB analysis). */
  maxDets?: number;
  /** Area range on the GT `area` field (default [0, 1e10], pycocotools' 'all'). */
  areaRng?: [number, number];
}

const S = ANALYSIS_STEPS.length;
const SIM = 3;
const OTH = 4;
const BG = 5;
const FN = 6;

/**
 * Runs the analysis: one evaluation for C75/C50/Loc, then two class-agnostic evaluations per category (Sim, Oth).
 * Super-categories and "other categories" range over every category of the ground truth, not only `params.catIds`
 * (as in the MATLAB version), so confusion with a category left out of the analysis is still recognised.
 */
export function analyzeErrors(gt: GroundTruthSet, dt: DetectionSet, options: AnalysisOptions): ErrorAnalysis {
  const maxDets = options.maxDets ?? 100;
  const areaRng: [number, number] = options.areaRng ?? [0, 1e5 ** 2];
  const { imgIds, catIds, recThrs } = options.params;
  const R = recThrs.length;
  const base: EvalParams = {
    imgIds: [...imgIds],
    catIds: [...catIds],
    iouThrs: [0.75, 0.5, FORGIVING_IOU],
    recThrs: [...recThrs],
    maxDets: [maxDets],
    areaRng: [areaRng],
    areaRngLbl: ['all'],
    useCats: true,
  };
  // precision [T = 3, R, K, A = 1, M = 1]
  const ev = evaluateImages(gt, dt, base);
  const standard = accumulate(ev);
  const K = catIds.length;
  const I = imgIds.length;

  const allCategories = [...new Set(gt.categoryIds)].sort((a, b) => a - b);
  const detectionsOf = splitByCategory(dt);
  const ga = gt.annotations;

  const perCategory = catIds.map((categoryId, k): CategoryAnalysis => {
    let numGt = 0;
    for (let i = 0; i < I; i++) numGt += ev.gtNonIgnored[k * I + i]!; // [K * I, A = 1]
    const superCategory = options.superCategories.get(categoryId);
    const precision = new Float64Array(S * R).fill(-1);
    if (numGt === 0) return { categoryId, superCategory, numGt, precision, ap: new Array<number>(S).fill(-1) };
    for (let t = 0; t < 3; t++) {
      for (let r = 0; r < R; r++) precision[t * R + r] = standard.precision[(t * R + r) * K + k]!;
    }
    // Ground truth of every other category becomes "ignore": an area outside every range.
    const area = Float64Array.from(ga.area);
    for (let j = 0; j < area.length; j++) if (ga.categoryId[j] !== categoryId) area[j] = -Infinity;
    const relabelled: GroundTruthSet = { ...gt, annotations: { ...ga, area } };
    const siblings = superCategory === undefined ? [categoryId] : allCategories.filter((c) => options.superCategories.get(c) === superCategory);
    const forgiving = (categories: number[]): Float64Array => {
      const p: EvalParams = { ...base, catIds: categories, iouThrs: [FORGIVING_IOU], useCats: false };
      return accumulate(evaluateImages(relabelled, detectionsOf(categoryId), p)).precision; // [1, R, 1, 1, 1]
    };
    precision.set(forgiving(siblings), SIM * R);
    precision.set(forgiving(allCategories), OTH * R);
    for (let r = 0; r < R; r++) {
      precision[BG * R + r] = precision[OTH * R + r]! > 0 ? 1 : 0;
      precision[FN * R + r] = 1;
    }
    const ap = ANALYSIS_STEPS.map((_, s) => meanValid(precision.subarray(s * R, (s + 1) * R)));
    return { categoryId, superCategory, numGt, precision, ap };
  });

  const groups = new Map<string, CategoryAnalysis[]>();
  for (const c of perCategory) {
    if (c.superCategory === undefined) continue;
    const list = groups.get(c.superCategory) ?? [];
    list.push(c);
    groups.set(c.superCategory, list);
  }
  const bySuperCategory = [...groups.keys()]
    .sort()
    .map((superCategory) => ({ superCategory, ...averageCurves(groups.get(superCategory)!, R) }));
  return {
    steps: ANALYSIS_STEPS,
    recThrs: [...recThrs],
    maxDets,
    areaRng: [areaRng[0], areaRng[1]],
    perCategory,
    overall: averageCurves(perCategory, R),
    bySuperCategory,
  };
}

/**
 * Mean curves over the categories with ground truth; each step's AP is the mean of all (r, k) entries visited r
 * first, k inside, as pycocotools' summarize flattens them.
 */
function averageCurves(categories: readonly CategoryAnalysis[], R: number): GroupAnalysis {
  const kept = categories.filter((c) => c.numGt > 0);
  const precision = new Float64Array(S * R).fill(-1);
  const ap = new Array<number>(S).fill(-1);
  if (kept.length === 0) return { categoryIds: [], precision, ap };
  for (let s = 0; s < S; s++) {
    const entries: number[] = [];
    for (let r = 0; r < R; r++) {
      let sum = 0;
      for (const c of kept) {
        const v = c.precision[s * R + r]!;
        entries.push(v);
        sum += v;
      }
      precision[s * R + r] = sum / kept.length;
    }
    ap[s] = meanValid(entries);
  }
  return { categoryIds: kept.map((c) => c.categoryId), precision, ap };
}

/** A function giving the detections of one category (input order kept), built from one pass over the set. */
function splitByCategory(dt: DetectionSet): (categoryId: number) => DetectionSet {
  const indices = new Map<number, number[]>();
  for (let j = 0; j < dt.score.length; j++) {
    const c = dt.categoryId[j]!;
    let list = indices.get(c);
    if (list === undefined) indices.set(c, (list = []));
    list.push(j);
  }
  return (categoryId) => {
    const idx = indices.get(categoryId) ?? [];
    const n = idx.length;
    const out = allocDetectionSet(n);
    idx.forEach((j, q) => {
      out.imageId[q] = dt.imageId[j]!;
      out.categoryId[q] = dt.categoryId[j]!;
      out.score[q] = dt.score[j]!;
      out.bbox.set(dt.bbox.subarray(4 * j, 4 * j + 4), 4 * q);
    });
    return out;
  };
}

/** Precision of step `s` of a curve set: a view `[R]`. */
export function stepCurve(curves: StepCurves, s: number, R: number): Float64Array {
  return curves.precision.subarray(s * R, (s + 1) * R);
}
