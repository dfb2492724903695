// Hand-computed cases for the COCO evaluator: each expectation shows its arithmetic. pycocotools' rules under test:
// greedy matching in score order, IoU >= threshold matches, crowd IoU over the detection's area, ignore flags,
// stable ordering of tied scores, 101-point interpolated precision, -1 where a setting has no ground truth.
// Precision is tp / (fp + tp + eps) with eps = 2^-52 (np.spacing(1)): one TP over no FP gives 1 / (1 + eps) =
// 0.9999999999999998, as pycocotools reports; "AP 1" below is therefore compared to 12 digits.
import { describe, expect, it } from 'vitest';
import {
  accumulate,
  argsortDescStable,
  cocoEvaluate,
  defaultIouThrs,
  defaultRecThrs,
  evaluateImages,
  linspace,
  numpySum,
  resolveParams,
  summarize,
  type GroundTruthSet,
} from '../../src/eval/cocoeval.js';
import { groundTruthFromJson } from '../../src/eval/coco-json.js';
import { toDetectionSet, type CocoDetection } from '../../src/eval/results.js';

type Box = [number, number, number, number];
interface GtSpec {
  id?: number;
  image: number;
  cat?: number;
  bbox: Box;
  area?: number;
  crowd?: boolean;
}

/** A ground truth with images `imageIds`, categories 1 and 2, and the given boxes (area defaults to w * h). */
function makeGt(imageIds: number[], anns: GtSpec[]): GroundTruthSet {
  return groundTruthFromJson(
    {
      images: imageIds.map((id) => ({ id })),
      categories: [
        { id: 1, name: 'one' },
        { id: 2, name: 'two' },
      ],
      annotations: anns.map((a, j) => ({
        id: a.id ?? j + 1,
        image_id: a.image,
        category_id: a.cat ?? 1,
        bbox: a.bbox,
        area: a.area ?? a.bbox[2] * a.bbox[3],
        iscrowd: a.crowd ? 1 : 0,
      })),
    },
    'test-gt.json',
  );
}

function det(image: number, bbox: Box, score: number, cat = 1): CocoDetection {
  return { image_id: image, category_id: cat, bbox, score };
}

describe('parameters', () => {
  it('builds the IoU and recall thresholds with np.linspace arithmetic', () => {
    // np.linspace(.5, .95, 10): i * (0.44999999999999996 / 9) + 0.5, last = 0.95 (values printed by numpy 2.4).
    expect(defaultIouThrs()).toEqual([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95]);
    const rec = defaultRecThrs();
    expect(rec).toHaveLength(101);
    // numpy: r[35] = 0.35000000000000003, r[57] = 0.5700000000000001, r[100] = 1.0.
    expect(rec[35]).toBe(0.35000000000000003);
    expect(rec[57]).toBe(0.5700000000000001);
    expect(rec[29]).toBe(0.29);
    expect(rec[100]).toBe(1);
    expect(linspace(0, 1, 1)).toEqual([0]);
  });

  it('sorts and deduplicates image ids, category ids and maxDets like evaluate()', () => {
    const gt = makeGt([3, 1, 2], []);
    const p = resolveParams(gt, { imgIds: [3, 1, 3], maxDets: [100, 1, 10] });
    expect(p.imgIds).toEqual([1, 3]);
    expect(p.catIds).toEqual([1, 2]);
    expect(p.maxDets).toEqual([1, 10, 100]);
  });

  it('sums as numpy does (buffered pairwise), which differs from a left-to-right sum', () => {
    // 0.1 repeated 10 times: left to right gives 0.9999999999999999; numpy's 8-accumulator pairwise sum gives
    // ((0.1+0.1)+(0.1+0.1))+((0.1+0.1)+(0.1+0.1)) + 0.1 + 0.1 = 1 (np.sum([0.1] * 10) == 1.0).
    const tenths = new Array<number>(10).fill(0.1);
    expect(tenths.reduce((a, b) => a + b, 0)).toBe(0.9999999999999999);
    expect(numpySum(tenths)).toBe(1);
    expect(numpySum([])).toBe(0);
  });
});

describe('hand-computed case: one image, two GT, three detections', () => {
  // GT A [0,0,10,10] and B [20,20,10,10] (areas 100: small). Detections by score:
  //   d1 [0,0,10,10]   0.9  IoU(A) = 1                      -> TP at every threshold
  //   d2 [50,50,10,10] 0.8  no overlap                      -> FP
  //   d3 [20,20,10,5]  0.7  IoU(B) = 50 / (100 + 50 - 50) = 0.5 -> TP at t = 0.5 only (IoU >= t matches)
  // t = 0.5: tp 1,1,2  fp 0,1,1  recall .5,.5,1  precision 1,.5,2/3 -> envelope 1,2/3,2/3
  //   recall thresholds 0..0.50 (51 points) -> 1, 0.51..1 (50 points) -> 2/3: sum 51 + 100/3
  // t >= 0.55 (9 thresholds): recall .5,.5,.5 precision 1,.5,1/3 -> 51 points at 1, 50 past the curve at 0: sum 51
  // AP = (51 + 100/3 + 9 * 51) / 1010 = 0.53795379...; AP50 = (51 + 100/3) / 101; AP75 = 51 / 101
  // AR@100 = (1 + 9 * 0.5) / 10 = 0.55; AR@1 keeps only d1 -> 0.5
  const gt = makeGt([1], [
    { image: 1, bbox: [0, 0, 10, 10] },
    { image: 1, bbox: [20, 20, 10, 10] },
  ]);
  const dt = toDetectionSet([det(1, [0, 0, 10, 10], 0.9), det(1, [50, 50, 10, 10], 0.8), det(1, [20, 20, 10, 5], 0.7)]);
  const { stats, perCategory } = cocoEvaluate(gt, dt);

  it('gives the 12 stats', () => {
    const ap = (51 + 100 / 3 + 9 * 51) / 1010;
    const expected = [ap, (51 + 100 / 3) / 101, 51 / 101, ap, -1, -1, 0.5, 0.55, 0.55, 0.55, -1, -1];
    stats.forEach((s, i) => expect(s, `stat ${i}`).toBeCloseTo(expected[i]!, 12));
  });

  it('gives per-category AP and AR, -1 for the category without GT', () => {
    expect(perCategory.map((r) => r.categoryId)).toEqual([1, 2]);
    expect(perCategory[0]!.ap).toBeCloseTo((51 + 100 / 3 + 9 * 51) / 1010, 12);
    expect(perCategory[0]!.ap50).toBeCloseTo((51 + 100 / 3) / 101, 12);
    expect(perCategory[0]!.ar).toBeCloseTo(0.55, 12);
    expect(perCategory[1]).toMatchObject({ ap: -1, ap50: -1, ar: -1 });
  });

  it('exposes precision [T, R, K, A, M] and recall [T, K, A, M]', () => {
    const acc = accumulate(evaluateImages(gt, dt, resolveParams(gt)));
    expect(acc.counts).toEqual([10, 101, 2, 4, 3]);
    const [, R, K, A, M] = acc.counts;
    const at = (t: number, r: number, k: number, a: number, m: number): number => acc.precision[(((t * R + r) * K + k) * A + a) * M + m]!;
    expect(at(0, 50, 0, 0, 2)).toBe(1 / (1 + 2 ** -52)); // recall 0.50 reached at d1: 1 / (1 + eps)
    expect(at(0, 51, 0, 0, 2)).toBeCloseTo(2 / 3, 15); // envelope of 1/2 and 2/3
    expect(at(1, 51, 0, 0, 2)).toBe(0); // past the curve at t = 0.55
    expect(at(0, 0, 1, 0, 2)).toBe(-1); // category 2: no GT
    expect(acc.recall[((0 * K + 0) * A + 0) * M + 2]).toBe(1);
    expect(acc.recall[((1 * K + 0) * A + 0) * M + 2]).toBe(0.5);
  });
});

describe('edge cases', () => {
  const oneGt = makeGt([1, 2], [{ image: 1, bbox: [0, 0, 10, 10] }]);

  it('empty detections: 0 where there is GT, -1 where there is none', () => {
    const { stats, perCategory } = cocoEvaluate(oneGt, toDetectionSet([]));
    // Only a small GT exists: medium and large are -1; every other stat is 0.
    expect(stats).toEqual([0, 0, 0, 0, -1, -1, 0, 0, 0, 0, -1, -1]);
    expect(perCategory.map((r) => r.ap)).toEqual([0, -1]);
  });

  it('no ground truth at all: every stat is -1', () => {
    const { stats } = cocoEvaluate(makeGt([1], []), toDetectionSet([det(1, [0, 0, 5, 5], 0.5)]));
    expect(stats).toEqual(new Array(12).fill(-1));
  });

  it('detections on an image without GT are false positives', () => {
    // Image 2 has no GT. Its detection scores higher: FP then TP -> precision 0, 1/2 -> envelope 1/2, 1/2 -> AP 0.5.
    const fpFirst = cocoEvaluate(oneGt, toDetectionSet([det(2, [0, 0, 10, 10], 0.95), det(1, [0, 0, 10, 10], 0.9)]));
    expect(fpFirst.stats[0]).toBeCloseTo(0.5, 12);
    // Scored lower, it comes after recall 1 is reached: AP 1.
    const fpLast = cocoEvaluate(oneGt, toDetectionSet([det(2, [0, 0, 10, 10], 0.5), det(1, [0, 0, 10, 10], 0.9)]));
    expect(fpLast.stats[0]).toBeCloseTo(1, 12);
  });

  it('detections only on crowd regions are ignored, not false positives', () => {
    // Crowd C [50,50,40,40]: d [55,55,10,10] has intersection 100 over its own area 100 = IoU 1 (crowd rule), so it
    // matches C at every threshold and is ignored; so is a second one (a crowd region absorbs any number).
    const gt = makeGt([1], [
      { image: 1, bbox: [0, 0, 10, 10] },
      { image: 1, bbox: [50, 50, 40, 40], crowd: true },
    ]);
    const onCrowd = [det(1, [55, 55, 10, 10], 0.9), det(1, [60, 60, 10, 10], 0.8)];
    // Only crowd hits: nothing matched, nothing counted: AP 0 and AR 0 for the regular GT.
    const only = cocoEvaluate(gt, toDetectionSet(onCrowd));
    expect(only.stats[0]).toBe(0);
    expect(only.stats[8]).toBe(0);
    // Plus a TP scored below them: tp 0,0,1 with nd 3 -> precision 0,0,1 -> envelope 1,1,1 -> AP 1 (were they
    // false positives, precision would be 1/3 and AP 1/3).
    const withTp = cocoEvaluate(gt, toDetectionSet([...onCrowd, det(1, [0, 0, 10, 10], 0.7)]));
    expect(withTp.stats[0]).toBeCloseTo(1, 12);
    // A ground truth of crowds only has no non-ignored GT: -1.
    const crowdOnly = cocoEvaluate(makeGt([1], [{ image: 1, bbox: [50, 50, 40, 40], crowd: true }]), toDetectionSet(onCrowd));
    expect(crowdOnly.stats[0]).toBe(-1);
  });

  it('an IoU equal to the threshold matches', () => {
    // d [0,0,10,6] on GT [0,0,10,10]: IoU 60 / 100 = 0.6 = iouThrs[2], so TP at t = .5, .55, .6 and FP above:
    // AP = 3 / 10 (three thresholds at precision 1, seven at 0).
    const { stats } = cocoEvaluate(oneGt, toDetectionSet([det(1, [0, 0, 10, 6], 0.9)]));
    expect(stats[0]).toBeCloseTo(0.3, 12);
  });

  it('tied scores keep input order within an image (stable sort)', () => {
    // Both score 0.5 on GT [0,0,10,10]; listed first: p [0,0,10,7.2] (IoU 0.72), then q [0,0,10,10] (IoU 1).
    // p is taken first: t <= 0.7 (5 thresholds) p TP, q FP -> AP 1; t >= 0.75 p FP, q TP -> precision 0, 1/2
    // -> envelope 1/2 -> AP 0.5. Mean (5 * 1 + 5 * 0.5) / 10 = 0.75. (q first would give 1.)
    const { stats } = cocoEvaluate(oneGt, toDetectionSet([det(1, [0, 0, 10, 7.2], 0.5), det(1, [0, 0, 10, 10], 0.5)]));
    expect(stats[0]).toBeCloseTo(0.75, 12);
    const swapped = cocoEvaluate(oneGt, toDetectionSet([det(1, [0, 0, 10, 10], 0.5), det(1, [0, 0, 10, 7.2], 0.5)]));
    expect(swapped.stats[0]).toBeCloseTo(1, 12);
  });

  it('tied scores across images keep image order, then order within the image', () => {
    // GT one box on image 1 and one on image 2; all detections score 0.5, listed: FP on image 2, TP on image 1,
    // TP on image 2. Accumulate concatenates image 1 then image 2: TP, FP, TP -> precision 1, 1/2, 2/3
    // -> envelope 1, 2/3, 2/3 -> AP (51 + 50 * 2/3) / 101 at every threshold.
    const gt = makeGt([1, 2], [
      { image: 1, bbox: [0, 0, 10, 10] },
      { image: 2, bbox: [0, 0, 10, 10] },
    ]);
    const dt = toDetectionSet([det(2, [50, 50, 10, 10], 0.5), det(1, [0, 0, 10, 10], 0.5), det(2, [0, 0, 10, 10], 0.5)]);
    expect(cocoEvaluate(gt, dt).stats[0]).toBeCloseTo((51 + 100 / 3) / 101, 12);
  });

  it('useCats = 0 ignores category labels', () => {
    // A detection on the right box with the wrong category: per category AP 0 (category 1 has GT, no match);
    // class-agnostic AP 1, reported under category id -1.
    const dt = toDetectionSet([det(1, [0, 0, 10, 10], 0.9, 2)]);
    expect(cocoEvaluate(oneGt, dt).stats[0]).toBe(0);
    const agnostic = cocoEvaluate(oneGt, dt, { useCats: false });
    expect(agnostic.stats[0]).toBeCloseTo(1, 12);
    expect(agnostic.perCategory.map((r) => r.categoryId)).toEqual([-1]);
    expect(agnostic.perCategory[0]!.ap).toBe(agnostic.stats[0]);
  });

  it('an image-id subset evaluates only those images', () => {
    // Image 2 holds a GT that nothing detects: all images -> recall 1/2; image 1 alone -> AP 1, AR 1.
    const gt = makeGt([1, 2], [
      { image: 1, bbox: [0, 0, 10, 10] },
      { image: 2, bbox: [0, 0, 10, 10] },
    ]);
    const dt = toDetectionSet([det(1, [0, 0, 10, 10], 0.9), det(2, [50, 50, 10, 10], 0.9)]);
    expect(cocoEvaluate(gt, dt).stats[8]).toBe(0.5);
    const subset = cocoEvaluate(gt, dt, { imgIds: [1] });
    expect(subset.stats[0]).toBeCloseTo(1, 12);
    expect(subset.stats[8]).toBe(1);
  });

  it('maxDets caps detections per image by score; custom maxDets and iouThrs follow summarize()', () => {
    // Three FPs above the TP on one image. maxDets 1, 2, 4: at 1 and 2 only FPs are kept (AR 0); at 4 the TP is 4th.
    const dt = toDetectionSet([
      det(1, [50, 50, 5, 5], 0.9),
      det(1, [60, 60, 5, 5], 0.8),
      det(1, [70, 70, 5, 5], 0.7),
      det(1, [0, 0, 10, 10], 0.6),
    ]);
    const { stats } = cocoEvaluate(oneGt, dt, { maxDets: [1, 2, 4], iouThrs: [0.5, 0.9] });
    // Line 1 always reads maxDets = 100 (pycocotools hard-codes it): absent -> -1.
    expect(stats[0]).toBe(-1);
    // AP50 at maxDets 4: precision 0,0,0,1/4 -> envelope 1/4 everywhere -> 0.25.
    expect(stats[1]).toBeCloseTo(0.25, 12);
    // 0.75 is not among the thresholds -> -1.
    expect(stats[2]).toBe(-1);
    expect(stats.slice(6, 9)).toEqual([0, 0, 1]);
  });

  it('a detection outside the area range is ignored when unmatched', () => {
    // Small GT [0,0,10,10]; an unmatched large FP [100,100,200,200] scores higher. In area=all it is a FP
    // (AP 0.5: precision 0, 1/2 -> envelope 1/2); in area=small it is ignored (AP 1).
    const dt = toDetectionSet([det(1, [100, 100, 200, 200], 0.9), det(1, [0, 0, 10, 10], 0.8)]);
    const { stats } = cocoEvaluate(oneGt, dt);
    expect(stats[0]).toBeCloseTo(0.5, 12);
    expect(stats[3]).toBeCloseTo(1, 12);
  });

  it('uses the GT area field, not the box, for area ranges', () => {
    // A 10x10 box declared with area 2000 is medium: APs -1, APm 1.
    const gt = makeGt([1], [{ image: 1, bbox: [0, 0, 10, 10], area: 2000 }]);
    const { stats } = cocoEvaluate(gt, toDetectionSet([det(1, [0, 0, 10, 10], 0.9)]));
    expect([stats[3], stats[5]]).toEqual([-1, -1]);
    expect(stats[4]).toBeCloseTo(1, 12);
  });

  it('a GT with id 0 never counts as matched (pycocotools stores the GT id as the match flag)', () => {
    const gt = makeGt([1], [{ id: 0, image: 1, bbox: [0, 0, 10, 10] }]);
    expect(cocoEvaluate(gt, toDetectionSet([det(1, [0, 0, 10, 10], 0.9)])).stats[0]).toBe(0);
  });

  it('rejects non-finite scores and bad boxes built in code, naming the detection', () => {
    expect(() => cocoEvaluate(oneGt, toDetectionSet([det(1, [0, 0, 10, 10], 0.9), det(1, [0, 0, 10, 10], Number.NaN)]))).toThrow('detection 1: score NaN is not finite');
    expect(() => cocoEvaluate(oneGt, toDetectionSet([det(1, [0, 0, -1, 10], 0.9)]))).toThrow('detection 0: bbox [0, 0, -1, 10] is not 4 finite numbers with w, h >= 0');
  });

  it('summarize() needs three maxDets', () => {
    const gt = makeGt([1], []);
    const acc = accumulate(evaluateImages(gt, toDetectionSet([]), resolveParams(gt, { maxDets: [10, 100] })));
    expect(() => summarize(acc)).toThrow(/at least 3 maxDets/);
  });
});

describe('argsortDescStable', () => {
  it('orders by score descending with ties in index order, like argsort(-s, kind="mergesort")', () => {
    // Hand-checked: scores [0.5, 0.9, 0.5, -1, 0.9, 0, -0] -> 0.9 (1, 4), 0.5 (0, 2), 0 and -0 tie (5, 6), -1 (3).
    expect(Array.from(argsortDescStable(new Float64Array([0.5, 0.9, 0.5, -1, 0.9, 0, -0])))).toEqual([1, 4, 0, 2, 5, 6, 3]);
  });

  it('agrees with a stable comparison sort on many tied, negative and tiny scores', () => {
    let seed = 12345;
    const next = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const values = [0, -0, 1e-300, -1e-300, 0.001, 0.5, 0.999, 1, -2.5, 1e10];
    const scores = Float64Array.from({ length: 5000 }, () => (next() < 0.5 ? values[Math.floor(next() * values.length)]! : Math.round(next() * 1000) / 1000 - 0.2));
    const expected = Array.from(scores.keys()).sort((u, v) => (scores[u]! > scores[v]! ? -1 : scores[u]! < scores[v]! ? 1 : u - v));
    expect(Array.from(argsortDescStable(scores))).toEqual(expected);
  });
});
