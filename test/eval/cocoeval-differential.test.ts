// Differential test: the optimised evaluator against a plain one-to-one transcription of pycocotools' steps
// (test/eval/naive-cocoeval.ts) on random cases with crowds, tied scores, zero-size boxes, detections on images
// without GT and every parameter variant. precision, recall and the score at each recall threshold must agree bit for bit.
import { describe, expect, it } from 'vitest';
import { accumulate, evaluateImages, resolveParams, type EvalParams, type GroundTruthSet } from '../../src/eval/cocoeval.js';
import { groundTruthFromJson } from '../../src/eval/coco-json.js';
import { toDetectionSet } from '../../src/eval/results.js';
import { Rng } from '../../src/util/rng.js';
import { naiveEvaluate, type NaiveDt, type NaiveGt } from './naive-cocoeval.js';

function randomCase(seed: number): { gtJson: { images: { id: number }[]; categories: { id: number }[]; annotations: NaiveGt[] }; dts: NaiveDt[] } {
  const rng = new Rng(seed);
  const images = [3, 8, 5, 12, 7].map((id) => ({ id }));
  const categories = [1, 4, 9].map((id) => ({ id }));
  const annotations: NaiveGt[] = [];
  const dts: NaiveDt[] = [];
  const box = (): number[] => {
    const w = rng.int(4) === 0 ? 0 : Math.round(rng.uniform(2, 120));
    const h = Math.round(rng.uniform(2, 120));
    return [Math.round(rng.uniform(0, 200)), Math.round(rng.uniform(0, 200)), w, h];
  };
  let id = 1;
  let usedZero = false; // at most one GT with id 0 (pycocotools reads a match to it as no match)
  for (const { id: image } of images) {
    if (image === 12) continue; // an image without GT
    const n = rng.int(7);
    for (let j = 0; j < n; j++) {
      const bbox = box();
      const crowd = rng.next() < 0.12 ? 1 : 0;
      const zero: boolean = !usedZero && rng.next() < 0.05;
      usedZero ||= zero;
      annotations.push({ id: zero ? 0 : 100 + id++, image_id: image, category_id: categories[rng.int(3)]!.id, bbox, area: bbox[2]! * bbox[3]! * rng.uniform(0.3, 1.2), iscrowd: crowd });
    }
  }
  for (const { id: image } of images) {
    const own = annotations.filter((a) => a.image_id === image);
    const n = rng.int(14);
    for (let j = 0; j < n; j++) {
      const score = Math.round(rng.next() * 5) / 5; // few distinct scores: many ties
      if (own.length > 0 && rng.next() < 0.6) {
        const g = own[rng.int(own.length)]!;
        const jitter = (v: number): number => Math.max(0, v + Math.round(rng.normal() * 6));
        const cat = rng.next() < 0.8 ? g.category_id : categories[rng.int(3)]!.id;
        dts.push({ image_id: image, category_id: cat, bbox: [jitter(g.bbox[0]!), jitter(g.bbox[1]!), jitter(g.bbox[2]!), jitter(g.bbox[3]!)], score });
      } else {
        dts.push({ image_id: image, category_id: categories[rng.int(3)]!.id, bbox: box(), score });
      }
    }
  }
  return { gtJson: { images, categories, annotations }, dts };
}

/** 'none', or where and how two arrays first differ (Object.is: bit-level equality for these values). */
function firstDifference(a: Float64Array, b: Float64Array): string {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `index ${i}: ${a[i]} vs ${b[i]}`;
  return 'none';
}

const VARIANTS: [string, Partial<EvalParams>][] = [
  ['default parameters', {}],
  ['useCats = 0', { useCats: false }],
  ['maxDets 1, 2, 4', { maxDets: [1, 2, 4] }],
  ['IoU thresholds 0.1, 0.5, 0.72', { iouThrs: [0.1, 0.5, 0.72] }],
  ['image subset', { imgIds: [8, 12, 3] }],
  ['category subset without useCats', { catIds: [1, 9], useCats: false }],
  // pycocotools keeps catIds as given without useCats: repeats count twice, the order decides ties.
  ['unsorted categories with a repeat, without useCats', { catIds: [9, 1, 4, 9], useCats: false }],
  ['custom area ranges', { areaRng: [[0, 1e10], [0, 500], [500, 3000], [2500, 1e10]], areaRngLbl: ['all', 'small', 'medium', 'large'] }],
  ['coarse recall thresholds', { recThrs: [0, 0.25, 0.5, 0.75, 1] }],
];

describe('optimised evaluator vs a plain transcription of pycocotools', () => {
  for (const [name, overrides] of VARIANTS) {
    it(`agrees bit for bit: ${name}, 25 random cases`, () => {
      let compared = 0;
      for (let seed = 1; seed <= 25; seed++) {
        const { gtJson, dts } = randomCase(seed);
        const gt: GroundTruthSet = groundTruthFromJson(gtJson, 'random.json');
        const params = resolveParams(gt, overrides);
        const fast = accumulate(evaluateImages(gt, toDetectionSet(dts.map((d) => ({ ...d, bbox: d.bbox as [number, number, number, number] }))), params));
        const naive = naiveEvaluate(gtJson.annotations, dts, params);
        expect(firstDifference(fast.precision, naive.precision), `seed ${seed} precision`).toBe('none');
        expect(firstDifference(fast.recall, naive.recall), `seed ${seed} recall`).toBe('none');
        expect(firstDifference(fast.scores, naive.scores), `seed ${seed} scores`).toBe('none');
        compared += fast.precision.filter((v) => v > 0 && v < 1).length;
      }
      // The cases must exercise partial precision, not only 0, 1 and -1.
      expect(compared).toBeGreaterThan(100);
    });
  }
});
