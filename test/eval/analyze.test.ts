// The error analysis (src/eval/analyze.ts) against hand-computed answers, against an independent implementation of
// the MATLAB recipe (test/eval/reference-analyze.ts) on random and real COCO cases, and against pycocotools' AP50 and
// AP75 recorded in the fixtures.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ANALYSIS_STEPS, analyzeErrors, type ErrorAnalysis } from '../../src/eval/analyze.js';
import { cocoEvaluate, defaultRecThrs, resolveParams } from '../../src/eval/cocoeval.js';
import { groundTruthFromJson, readDetections, readGroundTruth, type LoadedGroundTruth } from '../../src/eval/coco-json.js';
import { toDetectionSet } from '../../src/eval/results.js';
import { Rng } from '../../src/util/rng.js';
import { cocoevalCases, cocoevalFixturesSkip } from '../helpers.js';
import { referenceAnalysis, type RefDt, type RefGt } from './reference-analyze.js';

interface GtJson {
  images: { id: number }[];
  categories: { id: number; name: string; supercategory?: string }[];
  annotations: RefGt[];
}

function analyse(gtJson: GtJson, dts: RefDt[]): { gt: LoadedGroundTruth; analysis: ErrorAnalysis } {
  const gt = groundTruthFromJson(gtJson, 'gt.json');
  const dt = toDetectionSet(dts.map((d) => ({ ...d, bbox: d.bbox as [number, number, number, number] })));
  return { gt, analysis: analyzeErrors(gt, dt, { params: resolveParams(gt), superCategories: gt.superCategories }) };
}

const gtBox = (id: number, image_id: number, category_id: number, bbox: number[], iscrowd = 0): RefGt => ({ id, image_id, category_id, bbox, area: bbox[2]! * bbox[3]!, iscrowd });
const det = (image_id: number, category_id: number, bbox: number[], score: number): RefDt => ({ image_id, category_id, bbox, score });

/** AP of each step of one category, rounded to 12 decimals (precision is tp / (tp + fp + 2^-52) as in pycocotools). */
const apOf = (a: ErrorAnalysis, categoryId: number): Record<string, number> => {
  const c = a.perCategory.find((x) => x.categoryId === categoryId)!;
  return Object.fromEntries(ANALYSIS_STEPS.map((s, i) => [s, round12(c.ap[i]!)]));
};
const round12 = (v: number): number => Math.round(v * 1e12) / 1e12;

describe('error analysis: hand-built cases', () => {
  const categories = [
    { id: 1, name: 'cat', supercategory: 'animal' },
    { id: 2, name: 'dog', supercategory: 'animal' },
    { id: 3, name: 'car', supercategory: 'vehicle' },
  ];

  it('a detection on a GT of a similar category: an FP until Sim, where it is ignored', () => {
    // Image 1: a cat; image 2: a dog. Dog detections: 0.9 exactly on the cat, 0.5 exactly on the dog.
    const gtJson: GtJson = { images: [{ id: 1 }, { id: 2 }], categories, annotations: [gtBox(1, 1, 1, [10, 10, 20, 20]), gtBox(2, 2, 2, [10, 10, 20, 20])] };
    const { analysis } = analyse(gtJson, [det(1, 2, [10, 10, 20, 20], 0.9), det(2, 2, [10, 10, 20, 20], 0.5)]);
    // Curve FP, TP: precision 1/2 at recall 1 for every threshold: AP 0.5 until the FP is forgiven.
    expect(apOf(analysis, 2)).toEqual({ C75: 0.5, C50: 0.5, Loc: 0.5, Sim: 1, Oth: 1, BG: 1, FN: 1 });
    // The cat has no detection at all.
    expect(apOf(analysis, 1)).toEqual({ C75: 0, C50: 0, Loc: 0, Sim: 0, Oth: 0, BG: 0, FN: 1 });
  });

  it('the same detection on a GT of another super-category is forgiven only at Oth', () => {
    const gtJson: GtJson = { images: [{ id: 1 }, { id: 2 }], categories, annotations: [gtBox(1, 1, 3, [10, 10, 20, 20]), gtBox(2, 2, 2, [10, 10, 20, 20])] };
    const { analysis } = analyse(gtJson, [det(1, 2, [10, 10, 20, 20], 0.9), det(2, 2, [10, 10, 20, 20], 0.5)]);
    expect(apOf(analysis, 2)).toEqual({ C75: 0.5, C50: 0.5, Loc: 0.5, Sim: 0.5, Oth: 1, BG: 1, FN: 1 });
  });

  it('every kind of error in one category, each step by hand', () => {
    // Three dogs, a cat and a car in one image. Dog detections in score order:
    //   0.9 on the cat (similar class), 0.8 on the car (other class), 0.7 on dog 1 at IoU 0.6,
    //   0.6 on background, 0.5 on dog 2 at IoU 0.3; dog 3 is missed.
    const gtJson: GtJson = {
      images: [{ id: 1 }],
      categories,
      annotations: [
        gtBox(1, 1, 2, [0, 0, 10, 10]),
        gtBox(2, 1, 2, [0, 100, 10, 10]),
        gtBox(3, 1, 2, [0, 200, 10, 10]),
        gtBox(4, 1, 1, [100, 0, 10, 10]),
        gtBox(5, 1, 3, [200, 0, 10, 10]),
      ],
    };
    const dts = [
      det(1, 2, [100, 0, 10, 10], 0.9),
      det(1, 2, [200, 0, 10, 10], 0.8),
      det(1, 2, [0, 0, 10, 6], 0.7), // IoU 60 / 100
      det(1, 2, [500, 500, 10, 10], 0.6),
      det(1, 2, [0, 100, 10, 3], 0.5), // IoU 30 / 100
    ];
    const { analysis } = analyse(gtJson, dts);
    const dog = analysis.perCategory.find((c) => c.categoryId === 2)!;
    const got = Object.fromEntries(ANALYSIS_STEPS.map((s, i) => [s, dog.ap[i]!]));
    // Recall thresholds 0, .01, ..., 1: 34 of them are <= 1/3 and 67 are <= 2/3.
    // C75: no true positive.
    expect(got.C75).toBe(0);
    // C50: FP FP TP FP FP -> best precision 1/3 up to recall 1/3.
    expect(got.C50).toBeCloseTo((34 * (1 / 3)) / 101, 12);
    // Loc: FP FP TP FP TP -> precision 2/5 (the envelope) up to recall 2/3.
    expect(got.Loc).toBeCloseTo((67 * 0.4) / 101, 12);
    // Sim: the cat detection ignored: FP TP FP TP -> 1/2 up to recall 2/3.
    expect(got.Sim).toBeCloseTo((67 * 0.5) / 101, 12);
    // Oth: the car detection ignored too: TP FP TP -> 1 up to 1/3, 2/3 up to 2/3.
    expect(got.Oth).toBeCloseTo((34 * 1 + 33 * (2 / 3)) / 101, 12);
    // BG: 1 up to the recall Oth reaches (2/3).
    expect(got.BG).toBeCloseTo(67 / 101, 12);
    expect(got.FN).toBe(1);
    // The curves themselves at a few recall thresholds (index r = recall r / 100).
    const at = (step: number, r: number): number => dog.precision[step * 101 + r]!;
    expect([at(1, 33), at(1, 34)]).toEqual([expect.closeTo(1 / 3, 12), 0]);
    expect([at(4, 0), at(4, 33), at(4, 34), at(4, 66), at(4, 67)]).toEqual([expect.closeTo(1, 12), expect.closeTo(1, 12), expect.closeTo(2 / 3, 12), expect.closeTo(2 / 3, 12), 0]);
    // Overall: the mean over the three categories (cat and car have no detection: 0 except FN).
    expect(analysis.overall.ap[4]).toBeCloseTo(got.Oth! / 3, 12);
    expect(analysis.overall.ap[6]).toBe(1);
    expect(analysis.bySuperCategory.map((g) => [g.superCategory, g.categoryIds])).toEqual([
      ['animal', [1, 2]],
      ['vehicle', [3]],
    ]);
  });

  it('a category without ground truth reads -1 and stays out of the overall mean', () => {
    const gtJson: GtJson = { images: [{ id: 1 }], categories, annotations: [gtBox(1, 1, 2, [0, 0, 10, 10])] };
    const { analysis } = analyse(gtJson, [det(1, 2, [0, 0, 10, 10], 0.9), det(1, 1, [50, 50, 10, 10], 0.8)]);
    expect(apOf(analysis, 1).C50).toBe(-1);
    expect(apOf(analysis, 3).FN).toBe(-1);
    expect(analysis.overall.categoryIds).toEqual([2]);
    expect(analysis.overall.ap.map(round12)).toEqual([1, 1, 1, 1, 1, 1, 1]);
  });

  it('crowd ground truth: a detection on it is ignored at every step', () => {
    // One dog and a dog crowd; a detection inside the crowd region (IoU with it = intersection / detection area = 1).
    const gtJson: GtJson = { images: [{ id: 1 }], categories, annotations: [gtBox(1, 1, 2, [0, 0, 10, 10]), gtBox(2, 1, 2, [100, 100, 50, 50], 1)] };
    const { analysis } = analyse(gtJson, [det(1, 2, [110, 110, 10, 10], 0.9), det(1, 2, [0, 0, 10, 10], 0.5)]);
    expect(apOf(analysis, 2)).toEqual({ C75: 1, C50: 1, Loc: 1, Sim: 1, Oth: 1, BG: 1, FN: 1 });
  });

  it('a category without a super-category has no similar categories (Sim = Loc)', () => {
    const cats = [
      { id: 1, name: 'cat' },
      { id: 2, name: 'dog' },
    ];
    const gtJson: GtJson = { images: [{ id: 1 }, { id: 2 }], categories: cats, annotations: [gtBox(1, 1, 1, [10, 10, 20, 20]), gtBox(2, 2, 2, [10, 10, 20, 20])] };
    const { analysis } = analyse(gtJson, [det(1, 2, [10, 10, 20, 20], 0.9), det(2, 2, [10, 10, 20, 20], 0.5)]);
    expect(apOf(analysis, 2)).toEqual({ C75: 0.5, C50: 0.5, Loc: 0.5, Sim: 0.5, Oth: 1, BG: 1, FN: 1 });
    expect(analysis.bySuperCategory).toEqual([]);
  });
});

function randomCase(seed: number): { gtJson: GtJson; dts: RefDt[] } {
  const rng = new Rng(seed);
  const images = [4, 1, 9, 6].map((id) => ({ id }));
  const categories = [
    { id: 1, name: 'a', supercategory: 'x' },
    { id: 2, name: 'b', supercategory: 'x' },
    { id: 5, name: 'c', supercategory: 'x' },
    { id: 7, name: 'd', supercategory: 'y' },
    { id: 8, name: 'e', supercategory: 'y' },
    { id: 11, name: 'f' },
  ];
  const box = (): number[] => [rng.int(150), rng.int(150), 4 + rng.int(80), 4 + rng.int(80)];
  const annotations: RefGt[] = [];
  let id = 1;
  for (const { id: image } of images) {
    const n = rng.int(9);
    for (let j = 0; j < n; j++) annotations.push(gtBox(id++, image, categories[rng.int(6)]!.id, box(), rng.next() < 0.08 ? 1 : 0));
  }
  const dts: RefDt[] = [];
  for (const { id: image } of images) {
    const own = annotations.filter((a) => a.image_id === image);
    const n = rng.int(16);
    for (let j = 0; j < n; j++) {
      const score = Math.round(rng.next() * 20) / 20; // ties across images and within them
      if (own.length > 0 && rng.next() < 0.7) {
        const g = own[rng.int(own.length)]!;
        const jitter = (v: number, s: number): number => Math.max(1, v + Math.round(rng.normal() * s));
        const cat = rng.next() < 0.5 ? g.category_id : categories[rng.int(6)]!.id;
        const s = rng.next() < 0.5 ? 2 : 12;
        dts.push(det(image, cat, [jitter(g.bbox[0]!, s), jitter(g.bbox[1]!, s), jitter(g.bbox[2]!, s), jitter(g.bbox[3]!, s)], score));
      } else {
        dts.push(det(image, categories[rng.int(6)]!.id, box(), score));
      }
    }
  }
  return { gtJson: { images, categories, annotations }, dts };
}

function expectMatchesReference(analysis: ErrorAnalysis, ref: ReturnType<typeof referenceAnalysis>, label: string): void {
  const R = analysis.recThrs.length;
  for (const want of ref.perCategory) {
    const got = analysis.perCategory.find((c) => c.categoryId === want.categoryId)!;
    if (want.curves === null) {
      expect(got.ap, `${label} category ${want.categoryId}`).toEqual(new Array(7).fill(-1));
      continue;
    }
    for (let s = 0; s < 7; s++) {
      for (let r = 0; r < R; r++) {
        const where = `${label} category ${want.categoryId} step ${ANALYSIS_STEPS[s]} r ${r}`;
        expect(Math.abs(got.precision[s * R + r]! - want.curves[s]![r]!), where).toBeLessThanOrEqual(1e-12);
      }
      expect(Math.abs(got.ap[s]! - want.ap![s]!), `${label} category ${want.categoryId} AP ${ANALYSIS_STEPS[s]}`).toBeLessThanOrEqual(1e-12);
    }
  }
  for (let s = 0; s < 7; s++) {
    expect(Math.abs(analysis.overall.ap[s]! - ref.overall.ap[s]!), `${label} overall AP ${ANALYSIS_STEPS[s]}`).toBeLessThanOrEqual(1e-12);
    for (let r = 0; r < R; r++) expect(Math.abs(analysis.overall.precision[s * R + r]! - ref.overall.curves[s]![r]!)).toBeLessThanOrEqual(1e-12);
  }
}

describe('error analysis against an independent implementation', () => {
  it('random cases: every curve and AP of every step, per category and overall', () => {
    // Step s "changes something" in a case when some category's AP grows from step s - 1 to s.
    const changed = new Array<number>(7).fill(0);
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const { gtJson, dts } = randomCase(seed);
      const { analysis } = analyse(gtJson, dts);
      expectMatchesReference(analysis, referenceAnalysis(gtJson, dts, defaultRecThrs()), `seed ${seed}`);
      for (let s = 1; s < 7; s++) if (analysis.perCategory.some((c) => c.ap[s]! > c.ap[s - 1]! + 1e-9)) changed[s]!++;
    }
    // The cases exercise every step (localisation, similar-class, other-class, background errors, misses).
    expect(changed.slice(1).every((n) => n >= 3), `cases where each step changes an AP: ${changed.slice(1).join(', ')}`).toBe(true);
  });

  it('maxDets 100 cuts each image to its 100 best detections per category', () => {
    const categories = [{ id: 1, name: 'a', supercategory: 'x' }];
    const gtJson: GtJson = { images: [{ id: 1 }], categories, annotations: [gtBox(1, 1, 1, [0, 0, 10, 10])] };
    // 100 background detections above the one true positive: it falls outside the 100 kept.
    const dts = [...Array.from({ length: 100 }, (_, j) => det(1, 1, [200 + j, 200, 10, 10], 0.9)), det(1, 1, [0, 0, 10, 10], 0.5)];
    const { analysis } = analyse(gtJson, dts);
    expect(apOf(analysis, 1).Oth).toBe(0);
    expectMatchesReference(analysis, referenceAnalysis(gtJson, dts, defaultRecThrs()), 'maxDets');
  });
});

// Real cases need their COCO files; the useCats=0 ones have no per-category steps.
const realCases = cocoevalCases().filter((c) => c.params.useCats === 1 && existsSync(c.gtPath));
const SKIP = cocoevalFixturesSkip() || (realCases.length === 0 ? '(skipped: no useCats=1 case with its files in the cocoeval fixtures)' : '');

describe.skipIf(SKIP !== '')(`error analysis on real COCO ground truth ${SKIP}`, () => {
  for (const c of realCases) {
    // The reference is slow (plain loops over every detection per image and category): run it on the harder cases.
    const withReference = /heavy|fakebbox|img139/.test(c.name);
    it(`${c.name}: C75 and C50 overall are pycocotools' AP75 and AP50${withReference ? '; every step matches the reference' : ''}`, () => {
      const gt = readGroundTruth(c.gtPath);
      const dt = readDetections(c.dtPath, gt);
      const analysis = analyzeErrors(gt, dt, { params: resolveParams(gt), superCategories: gt.superCategories });
      // pycocotools' own numbers (recorded), and the same evaluator's summary: same definition, same arithmetic.
      expect(Math.abs(analysis.overall.ap[0]! - c.stats[2]!)).toBeLessThanOrEqual(1e-9);
      expect(Math.abs(analysis.overall.ap[1]! - c.stats[1]!)).toBeLessThanOrEqual(1e-9);
      const standard = cocoEvaluate(gt, dt);
      expect(analysis.overall.ap[0]).toBe(standard.stats[2]);
      expect(analysis.overall.ap[1]).toBe(standard.stats[1]);
      for (const row of standard.perCategory) {
        const got = analysis.perCategory.find((x) => x.categoryId === row.categoryId)!;
        expect([got.ap[0], got.ap[1]]).toEqual([row.ap75, row.ap50]);
      }
      if (!withReference) return;
      const gtJson = JSON.parse(readFileSync(c.gtPath, 'utf8')) as GtJson;
      const dtJson = JSON.parse(readFileSync(c.dtPath, 'utf8')) as RefDt[];
      expectMatchesReference(analysis, referenceAnalysis(gtJson, dtJson, defaultRecThrs()), c.name);
    });
  }
});
