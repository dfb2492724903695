import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import {
  levelTopK,
  postprocessDetections,
  resizeBoxesToOriginal,
  topK,
  unscaleBoxes,
} from '../../src/model/postprocess.js';
import { Rng } from '../../src/util/rng.js';

const CFG = { ...defaultConfig().model };
// sigmoid as torch computes it on float32: exp, 1 + e and the reciprocal each rounded to float32
const f = Math.fround;
const sig = (x: number) => f(1 / f(1 + f(Math.exp(-x))));

// Level A: two anchors, K = 2. Level B: one anchor on top of level A's first.
const LEVEL_A = {
  anchors: new Float32Array([0, 0, 10, 10, 20, 20, 30, 30]),
  deltas: new Float32Array(8),
  logits: new Float32Array([2, -5, /* anchor 1 */ 1, 0]),
};
const LEVEL_B = { anchors: new Float32Array([0, 0, 10, 10]), deltas: new Float32Array(4), logits: new Float32Array([3, -9]) };

describe('postprocessDetections', () => {
  it('thresholds, decodes, clips and sorts by score', () => {
    // scores: a0 = (sig 2 = 0.881, sig -5 = 0.0067 < 0.05: dropped), a1 = (sig 1 = 0.731, sig 0 = 0.5)
    // a1's box [20,20,30,30] is clipped to the 25 (h) x 28 (w) image: [20,20,28,25]
    const d = postprocessDetections([LEVEL_A], 2, [25, 28], CFG);
    expect(Array.from(d.scores)).toEqual([sig(2), sig(1), 0.5].map(Math.fround));
    expect(Array.from(d.labels)).toEqual([0, 0, 1]);
    expect(Array.from(d.boxes)).toEqual([0, 0, 10, 10, 20, 20, 28, 25, 20, 20, 28, 25]);
  });

  it('keeps the top-k per level before NMS and detectionsPerImage after it', () => {
    const top2 = postprocessDetections([LEVEL_A], 2, [25, 28], { ...CFG, topkCandidates: 2 });
    expect(Array.from(top2.labels)).toEqual([0, 0]);
    const best1 = postprocessDetections([LEVEL_A], 2, [25, 28], { ...CFG, detectionsPerImage: 1 });
    expect(Array.from(best1.scores)).toEqual([Math.fround(sig(2))]);
  });

  it('runs NMS class-wise across levels', () => {
    // level B's class-0 box (0.953) equals level A's first class-0 box (0.881): IoU 1 -> the lower one goes.
    // Level A's class-1 box at [20,20,28,25] is another class and stays.
    const d = postprocessDetections([LEVEL_A, LEVEL_B], 2, [25, 28], CFG);
    expect(Array.from(d.scores)).toEqual([sig(3), sig(1), 0.5].map(Math.fround));
    expect(Array.from(d.labels)).toEqual([0, 0, 1]);
  });

  it('compares scores with the threshold rounded to float32, as torch does', () => {
    // a threshold a hair below float32(sigmoid(1)) rounds to it in float32, so sigmoid(1) is not above it
    const threshold = Math.fround(sig(1)) - 1e-12;
    const d = postprocessDetections([LEVEL_A], 2, [25, 28], { ...CFG, scoreThreshold: threshold });
    expect(Array.from(d.scores)).toEqual([Math.fround(sig(2))]);
  });

  it('returns empty arrays when nothing passes the threshold', () => {
    const d = postprocessDetections([{ ...LEVEL_B, logits: new Float32Array([-9, -9]) }], 2, [25, 28], CFG);
    expect([d.boxes.length, d.scores.length, d.labels.length]).toEqual([0, 0, 0]);
  });

  it('rejects outputs that do not match the anchors', () => {
    expect(() => postprocessDetections([{ ...LEVEL_B, logits: new Float32Array(3) }], 2, [25, 28], CFG)).toThrow('level 0');
  });
});

describe('mapping back to the original image', () => {
  it('resizes like torchvision: x * original_w / resized_w, y * original_h / resized_h', () => {
    // resized 400 x 600 (h x w) from 200 x 300: both ratios 0.5
    expect(Array.from(resizeBoxesToOriginal(new Float32Array([10, 20, 30, 40]), [400, 600], [200, 300]))).toEqual([5, 10, 15, 20]);
    // per axis: h 100 -> 300 (x3), w 100 -> 50 (x0.5)
    expect(Array.from(resizeBoxesToOriginal(new Float32Array([10, 20, 30, 40]), [100, 100], [300, 50]))).toEqual([5, 60, 15, 120]);
  });

  it('divides by per-axis scales', () => {
    const boxes = unscaleBoxes(new Float32Array([10, 20, 30, 60]), 2, 4);
    expect(Array.from(boxes)).toEqual([5, 5, 15, 15]);
  });
});

describe('topK', () => {
  it('picks the k largest by descending score, ties by position', () => {
    // scores: 0.3 0.9 0.3 0.5 0.3; k = 3 -> 0.9 (1), 0.5 (3), then the first 0.3 (0)
    expect(Array.from(topK(Float32Array.from([0.3, 0.9, 0.3, 0.5, 0.3]), 3))).toEqual([1, 3, 0]);
    expect(Array.from(topK(Float32Array.from([0.3, 0.9]), 5))).toEqual([1, 0]);
    expect(topK(new Float32Array(0), 5).length).toBe(0);
  });

  it('agrees with a full sort on random inputs with many ties', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + Math.floor(rng.next() * 3000);
      const levels = 1 + Math.floor(rng.next() * 40); // few distinct values -> many ties
      const scores = Float32Array.from({ length: n }, () => Math.floor(rng.next() * levels) / levels);
      const k = Math.floor(rng.next() * n * 1.2);
      const expected = Array.from({ length: n }, (_, i) => i)
        .sort((a, b) => scores[b]! - scores[a]! || a - b)
        .slice(0, k);
      expect(Array.from(topK(scores, k))).toEqual(expected);
    }
  });
});

describe('levelTopK', () => {
  const threshold = Math.fround(0.05);
  const floor = Math.log(0.05 / 0.95) - 1e-3;

  it('keeps saturated ties: logits 17.5..40 all score 1.0 in float32, the lowest indices win', () => {
    // float32 sigmoid is 1.0 from a logit of about 16.6 up: six anchors tie at 1.0. top-3 by (score, index) is
    // 0, 1, 2 even though logits 30 and 40 are larger (torch.topk picks tied scores by index too).
    const logits = Float32Array.from([20, 30, 25, 18, 17.5, 40, 5, 3, 2, 1]);
    const top = levelTopK(logits, threshold, floor, 3);
    expect(Array.from(top.flat)).toEqual([0, 1, 2]);
    expect(Array.from(top.scores)).toEqual([1, 1, 1]);
  });

  it('agrees with scoring every logit and sorting, on random levels', () => {
    const rng = new Rng(11);
    const sigmoid32 = (x: number) => f(1 / f(1 + f(Math.exp(-x))));
    for (let trial = 0; trial < 40; trial++) {
      const n = 1 + rng.int(4000);
      // a mix of saturated, coarse (ties) and ordinary logits around the threshold
      const logits = Float32Array.from({ length: n }, () => {
        const u = rng.next();
        return u < 0.2 ? rng.uniform(15, 40) : u < 0.5 ? Math.round(rng.uniform(-6, 6) * 4) / 4 : rng.uniform(-8, 8);
      });
      const k = rng.int(n + 50);
      const expected = Array.from({ length: n }, (_, i) => i)
        .filter((i) => sigmoid32(logits[i]!) > threshold)
        .sort((a, b) => sigmoid32(logits[b]!) - sigmoid32(logits[a]!) || a - b)
        .slice(0, k);
      expect(Array.from(levelTopK(logits, threshold, floor, k).flat)).toEqual(expected);
    }
  });
});
