/**
 * COCO bounding-box evaluation that reproduces pycocotools 2.0.x `COCOeval` (iouType 'bbox') number for number.
 *
 * Pure: plain columnar arrays in, numbers out. No tfjs, no file reading, no printing.
 *
 * The three stages mirror pycocotools:
 * - {@link evaluateImages}: per (category, image) cell, IoU (crowd: intersection over detection area), ignore flags
 *   for crowd and out-of-range GT areas, greedy matching in score order; one result per area range.
 * - {@link accumulate}: per (category, area range, maxDets), the score-ordered precision/recall curve, its precision
 *   envelope and its value at each recall threshold; `precision` is `[T, R, K, A, M]`, `recall` `[T, K, A, M]`,
 *   -1 where a setting has no ground truth.
 * - {@link summarize}: the 12 familiar numbers.
 *
 * Exactness notes (each reproduces a specific pycocotools behaviour):
 * - Sorting by score is stable (pycocotools uses `mergesort`), so tied scores keep input order, both per image and
 *   across images in accumulate (image order = sorted image ids).
 * - A detection matched to a GT whose id is 0 counts as unmatched (pycocotools stores the GT id as the match flag).
 * - IoU thresholds and recall thresholds are built as `np.linspace` builds them: `start + i * step`, last = stop.
 * - Means sum as numpy's buffered pairwise reduction does (see {@link numpySum}), then divide by the count.
 * - Detection ids are 1..N in input order, detection area is `w * h` (pycocotools `loadRes`).
 */

/** Ground-truth annotations, one entry per annotation, columnar. */
export interface GtColumns {
  /** Annotation ids `[N]`. */
  id: Float64Array;
  /** Image id of each annotation `[N]`. */
  imageId: Float64Array;
  /** Category id of each annotation `[N]`. */
  categoryId: Float64Array;
  /** Boxes `[N * 4]`, COCO `x, y, w, h` in pixels. */
  bbox: Float64Array;
  /** The annotation's `area` field `[N]` (used for the area ranges; the IoU uses the box). */
  area: Float64Array;
  /** 1 for crowd regions `[N]`. */
  iscrowd: Uint8Array;
}

/** A COCO ground truth: the image and category ids it declares and its annotations. */
export interface GroundTruthSet {
  /** Every image id in the ground truth (duplicates are ignored). */
  imageIds: readonly number[];
  /** Every category id in the ground truth. */
  categoryIds: readonly number[];
  annotations: GtColumns;
}

/** Detections (a COCO results file), columnar. Detection `j` has id `j + 1` and area `w * h`. */
export interface DetectionSet {
  /** Image id of each detection `[D]`. */
  imageId: Float64Array;
  /** Category id of each detection `[D]`. */
  categoryId: Float64Array;
  /** Boxes `[D * 4]`, COCO `x, y, w, h` in pixels. */
  bbox: Float64Array;
  /** Confidence `[D]`. */
  score: Float64Array;
}

/** A zeroed DetectionSet of `n` detections, to be filled. */
export function allocDetectionSet(n: number): DetectionSet {
  return { imageId: new Float64Array(n), categoryId: new Float64Array(n), bbox: new Float64Array(4 * n), score: new Float64Array(n) };
}

/** Evaluation parameters (pycocotools `Params` for iouType 'bbox'). */
export interface EvalParams {
  /** Images to evaluate (sorted, unique after {@link resolveParams}). */
  imgIds: number[];
  /**
   * Categories to evaluate: sorted and unique with `useCats`; without it kept as given, duplicates and order
   * included (pycocotools concatenates each image's boxes category by category in this list's order, so a
   * category listed twice counts twice and the order decides ties).
   */
  catIds: number[];
  /** IoU thresholds `[T]`; default .50:.05:.95. */
  iouThrs: number[];
  /** Recall thresholds `[R]`; default 0:.01:1. */
  recThrs: number[];
  /** Detections kept per image, ascending `[M]`; default 1, 10, 100. */
  maxDets: number[];
  /** Area ranges `[A]` as `[lo, hi]` on the GT `area` field (inclusive). */
  areaRng: [number, number][];
  /** Labels of the area ranges `[A]`: summarize looks up 'all', 'small', 'medium', 'large'. */
  areaRngLbl: string[];
  /** false: ignore category labels (every box is one class, as in proposal scoring). */
  useCats: boolean;
}

/** `np.linspace(start, stop, num)` with numpy's exact arithmetic: `i * ((stop - start) / (num - 1)) + start`, last = stop. */
export function linspace(start: number, stop: number, num: number): number[] {
  const out: number[] = [];
  if (num <= 0) return out;
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out.push(i * step + start);
  out[num - 1] = stop;
  return out;
}

/** pycocotools' IoU thresholds .50:.05:.95 (10 values, e.g. index 8 is 0.8999999999999999). */
export function defaultIouThrs(): number[] {
  return linspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1);
}

/** pycocotools' recall thresholds 0:.01:1 (101 values). */
export function defaultRecThrs(): number[] {
  return linspace(0.0, 1.0, Math.round((1.0 - 0.0) / 0.01) + 1);
}

/**
 * Default parameters for a ground truth: every image and category, as pycocotools' `COCOeval.__init__`
 * (`sorted(getCatIds())`: a category the GT lists twice is there twice, which matters only without useCats).
 */
export function defaultParams(gt: GroundTruthSet): EvalParams {
  return {
    imgIds: uniqueSorted(gt.imageIds),
    catIds: [...gt.categoryIds].sort((a, b) => a - b),
    iouThrs: defaultIouThrs(),
    recThrs: defaultRecThrs(),
    maxDets: [1, 10, 100],
    areaRng: [
      [0, 1e5 ** 2],
      [0, 32 ** 2],
      [32 ** 2, 96 ** 2],
      [96 ** 2, 1e5 ** 2],
    ],
    areaRngLbl: ['all', 'small', 'medium', 'large'],
    useCats: true,
  };
}

/**
 * Defaults overridden by `overrides`, normalised as pycocotools' `evaluate()` does: image ids sorted and unique,
 * category ids too with useCats (without it they stay as given), maxDets sorted ascending (and unique).
 */
export function resolveParams(gt: GroundTruthSet, overrides: Partial<EvalParams> = {}): EvalParams {
  const p = { ...defaultParams(gt), ...definedOnly(overrides) };
  if (p.areaRng.length !== p.areaRngLbl.length) {
    throw new RangeError(`areaRng has ${p.areaRng.length} ranges but areaRngLbl ${p.areaRngLbl.length} labels`);
  }
  if (p.maxDets.length === 0) throw new RangeError('maxDets is empty');
  for (const m of p.maxDets) {
    if (!Number.isInteger(m) || m < 0) throw new RangeError(`maxDets must be non-negative integers, got ${m}`);
  }
  if (p.iouThrs.length === 0) throw new RangeError('iouThrs is empty');
  return {
    ...p,
    imgIds: uniqueSorted(p.imgIds),
    catIds: p.useCats ? uniqueSorted(p.catIds) : [...p.catIds],
    maxDets: uniqueSorted(p.maxDets),
    iouThrs: [...p.iouThrs],
    recThrs: [...p.recThrs],
    areaRng: p.areaRng.map(([lo, hi]) => [lo, hi] as [number, number]),
    areaRngLbl: [...p.areaRngLbl],
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(o) as (keyof T)[]) {
    if (o[key] !== undefined) out[key] = o[key];
  }
  return out;
}

function uniqueSorted(values: readonly number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/**
 * Per-image evaluation results for every (category, area range, image), stored flat. Cell `c = k * I + i`
 * (category index k, image index i; one category slot when `useCats` is false) owns detections at positions
 * `dtOffset[c] .. dtOffset[c + 1]`, sorted by score (highest first) and cut to `max(maxDets)`.
 */
export interface ImageEvaluation {
  params: EvalParams;
  /** Category slots K: `catIds.length`, or 1 when `useCats` is false. */
  numCats: number;
  /** Images I. */
  numImages: number;
  /** `[K * I + 1]` start of each cell's detections. */
  dtOffset: Int32Array;
  /** Score of each kept detection `[P]`. */
  dtScore: Float64Array;
  /** Flags of each kept detection per area range a and IoU threshold t `[P, A, T]`: bit 0 matched, bit 1 ignored. */
  dtFlags: Uint8Array;
  /** Count of non-ignored ground truth per (cell, area range) `[K * I, A]`. */
  gtNonIgnored: Int32Array;
}

const MATCHED = 1;
const IGNORED = 2;

/** Indices grouped by key: group `key` is `order[start[key] .. start[key + 1])`. */
interface Groups {
  order: Int32Array;
  start: Int32Array;
}

/**
 * Per image `i`, the groups `(i, slots[0]), (i, slots[1]), ...` of `g` (keys `i * numCats + slot`) one after the
 * other: one group per image. A slot listed twice repeats its group.
 */
function concatenateCategories(g: Groups, numImages: number, numCats: number, slots: Int32Array): Groups {
  const start = new Int32Array(numImages + 1);
  for (let i = 0; i < numImages; i++) {
    let n = 0;
    for (const s of slots) n += g.start[i * numCats + s + 1]! - g.start[i * numCats + s]!;
    start[i + 1] = start[i]! + n;
  }
  const order = new Int32Array(start[numImages]!);
  let q = 0;
  for (let i = 0; i < numImages; i++) {
    for (const s of slots) {
      for (let j = g.start[i * numCats + s]!; j < g.start[i * numCats + s + 1]!; j++) order[q++] = g.order[j]!;
    }
  }
  return { order, start };
}

/** Groups the indices `0..n-1` by integer key in `[0, numKeys)` (stable). Key -1 drops an index. */
function groupByKey(keys: Int32Array, numKeys: number): Groups {
  const start = new Int32Array(numKeys + 1);
  let kept = 0;
  for (let j = 0; j < keys.length; j++) {
    const key = keys[j]!;
    if (key >= 0) {
      start[key + 1]!++;
      kept++;
    }
  }
  for (let key = 0; key < numKeys; key++) start[key + 1]! += start[key]!;
  const fill = start.slice(0, numKeys);
  const order = new Int32Array(kept);
  for (let j = 0; j < keys.length; j++) {
    const key = keys[j]!;
    if (key >= 0) order[fill[key]!++] = j;
  }
  return { order, start };
}

function indexOf(ids: readonly number[]): Map<number, number> {
  const map = new Map<number, number>();
  ids.forEach((id, i) => map.set(id, i));
  return map;
}

/** Key `imageIndex * numCatIds + catIndex` (catIndex: among the distinct catIds), or -1 when not evaluated. */
function cellKeys(imageId: Float64Array, categoryId: Float64Array, imgIndex: Map<number, number>, catIndex: Map<number, number>): Int32Array {
  const n = imageId.length;
  const keys = new Int32Array(n);
  const numCatIds = catIndex.size;
  for (let j = 0; j < n; j++) {
    const i = imgIndex.get(imageId[j]!);
    const k = catIndex.get(categoryId[j]!);
    keys[j] = i === undefined || k === undefined ? -1 : i * numCatIds + k;
  }
  return keys;
}

/**
 * IoU of detections against ground truth as pycocotools' `bbIou`: `[D, G]` row-major into `out`.
 * Crowd GT: intersection over the detection's area.
 */
function boxIou(dtBox: Float64Array, dts: Int32Array, numDt: number, gtBox: Float64Array, gts: Int32Array, gtLo: number, numGt: number, crowd: Uint8Array, out: Float64Array): void {
  for (let g = 0; g < numGt; g++) {
    const gb = gts[gtLo + g]! * 4;
    const gx = gtBox[gb]!;
    const gy = gtBox[gb + 1]!;
    const gw = gtBox[gb + 2]!;
    const gh = gtBox[gb + 3]!;
    const ga = gw * gh;
    const isCrowd = crowd[gts[gtLo + g]!] !== 0;
    for (let d = 0; d < numDt; d++) {
      const db = dts[d]! * 4;
      const dx = dtBox[db]!;
      const dy = dtBox[db + 1]!;
      const dw = dtBox[db + 2]!;
      const dh = dtBox[db + 3]!;
      const da = dw * dh;
      let o = 0;
      const w = Math.min(dw + dx, gw + gx) - Math.max(dx, gx);
      if (w > 0) {
        const h = Math.min(dh + dy, gh + gy) - Math.max(dy, gy);
        if (h > 0) {
          const inter = w * h;
          const union = isCrowd ? da : da + ga - inter;
          o = inter / union;
        }
      }
      out[d * numGt + g] = o;
    }
  }
}

/** Sorts `idx[0..n)` (indices into `score`) by score descending; ties by index ascending, i.e. a stable sort. */
function sortByScoreDesc(idx: Int32Array, n: number, score: Float64Array): void {
  if (n <= 48) {
    for (let a = 1; a < n; a++) {
      const v = idx[a]!;
      const s = score[v]!;
      let b = a - 1;
      while (b >= 0) {
        const u = idx[b]!;
        const su = score[u]!;
        if (su > s || (su === s && u < v)) break;
        idx[b + 1] = u;
        b--;
      }
      idx[b + 1] = v;
    }
    return;
  }
  idx.subarray(0, n).sort((u, v) => {
    const su = score[u]!;
    const sv = score[v]!;
    return su > sv ? -1 : su < sv ? 1 : u - v;
  });
}

/**
 * pycocotools `evaluate()`: matches detections to ground truth per (category, image) for every area range and IoU
 * threshold. Detections on images or categories outside `params` are left out, as are ground-truth boxes.
 */
export function evaluateImages(gt: GroundTruthSet, dt: DetectionSet, params: EvalParams): ImageEvaluation {
  checkDetections(dt);
  const p = params;
  const I = p.imgIds.length;
  const K = p.useCats ? p.catIds.length : 1;
  const T = p.iouThrs.length;
  const A = p.areaRng.length;
  const maxDet = p.maxDets[p.maxDets.length - 1]!;
  const imgIndex = indexOf(p.imgIds);
  const distinctCats = [...new Set(p.catIds)];
  const catIndex = indexOf(distinctCats);
  const numCatIds = distinctCats.length;
  const ga = gt.annotations;

  // Groups by (image, category) key; without useCats, one group per image: its categories' groups concatenated in
  // catIds order (repeats included), as pycocotools builds each image's lists.
  const perImage = (g: Groups): Groups => (p.useCats ? g : concatenateCategories(g, I, numCatIds, Int32Array.from(p.catIds, (id) => catIndex.get(id)!)));
  const gtGroups = perImage(groupByKey(cellKeys(ga.imageId, ga.categoryId, imgIndex, catIndex), I * numCatIds));
  const dtGroups = perImage(groupByKey(cellKeys(dt.imageId, dt.categoryId, imgIndex, catIndex), I * numCatIds));

  const numCells = K * I;
  const keySpan = 1;
  const AT = A * T;
  // Each cell keeps min(its detections, maxDet); positions are laid out cell after cell (c = k * I + i), so the
  // detections of one category are contiguous and in image order, as accumulate() concatenates them.
  const dtOffset = new Int32Array(numCells + 1);
  for (let c = 0; c < numCells; c++) {
    const key = cellKey(c, I, numCatIds, p.useCats);
    dtOffset[c + 1] = dtOffset[c]! + Math.min(dtGroups.start[key + keySpan]! - dtGroups.start[key]!, maxDet);
  }
  const bound = dtOffset[numCells]!;
  const dtScore = new Float64Array(bound);
  const dtFlags = new Uint8Array(A * T * bound);
  const gtNonIgnored = new Int32Array(numCells * A);

  // Scratch buffers, grown as needed.
  let dtIdx = new Int32Array(64);
  let cellScore = new Float64Array(64);
  let ious = new Float64Array(256);
  let gtIgnoreRaw = new Uint8Array(16);
  let perm = new Int32Array(16);
  let gtIg = new Uint8Array(16);
  let gtMatched = new Uint8Array(16);
  const thresholds = Float64Array.from(p.iouThrs, (t) => Math.min(t, 1 - 1e-10));
  const areaLo = Float64Array.from(p.areaRng, (r) => r[0]);
  const areaHi = Float64Array.from(p.areaRng, (r) => r[1]);

  // Cells are visited image by image (grouping-key order), which reads the detections nearly sequentially.
  for (let i = 0; i < I; i++) {
    for (let k = 0; k < K; k++) {
      evaluateCell(k * I + i, p.useCats ? i * numCatIds + k : i);
    }
  }
  return { params: p, numCats: K, numImages: I, dtOffset, dtScore, dtFlags, gtNonIgnored };

  function evaluateCell(c: number, key: number): void {
    const pos = dtOffset[c]!;
    const gLo = gtGroups.start[key]!;
    const G = gtGroups.start[key + keySpan]! - gLo;
    const dLo = dtGroups.start[key]!;
    const allD = dtGroups.start[key + keySpan]! - dLo;
    if (G === 0 && allD === 0) return;

    // Sort positions within the cell (its list order: input order, or category by category without useCats),
    // so ties keep list order as pycocotools' mergesort does.
    if (dtIdx.length < allD) {
      dtIdx = new Int32Array(allD * 2);
      cellScore = new Float64Array(allD * 2);
    }
    for (let j = 0; j < allD; j++) {
      dtIdx[j] = j;
      cellScore[j] = dt.score[dtGroups.order[dLo + j]!]!;
    }
    sortByScoreDesc(dtIdx, allD, cellScore);
    const D = Math.min(allD, maxDet);
    for (let d = 0; d < D; d++) dtIdx[d] = dtGroups.order[dLo + dtIdx[d]!]!;

    if (G > gtIgnoreRaw.length) {
      gtIgnoreRaw = new Uint8Array(G * 2);
      perm = new Int32Array(G * 2);
      gtIg = new Uint8Array(G * 2);
      gtMatched = new Uint8Array(G * 2);
    }
    if (ious.length < D * G) ious = new Float64Array(D * G * 2);
    if (D > 0 && G > 0) boxIou(dt.bbox, dtIdx, D, ga.bbox, gtGroups.order, gLo, G, ga.iscrowd, ious);

    for (let d = 0; d < D; d++) dtScore[pos + d] = dt.score[dtIdx[d]!]!;

    if (G === 0) {
      // No ground truth: nothing matches; a detection is ignored exactly when its area is out of range.
      for (let d = 0; d < D; d++) {
        const db = dtIdx[d]! * 4;
        const area = dt.bbox[db + 2]! * dt.bbox[db + 3]!;
        for (let a = 0; a < A; a++) {
          if (area < areaLo[a]! || area > areaHi[a]!) {
            const base = (pos + d) * AT + a * T;
            for (let t = 0; t < T; t++) dtFlags[base + t] = IGNORED;
          }
        }
      }
      return;
    }

    for (let a = 0; a < A; a++) {
      const lo = areaLo[a]!;
      const hi = areaHi[a]!;
      // GT ignore flags, then a stable order with non-ignored GT first.
      let nonIgnored = 0;
      for (let g = 0; g < G; g++) {
        const j = gtGroups.order[gLo + g]!;
        const area = ga.area[j]!;
        const ig = ga.iscrowd[j] !== 0 || area < lo || area > hi ? 1 : 0;
        gtIgnoreRaw[g] = ig;
        if (!ig) nonIgnored++;
      }
      gtNonIgnored[c * A + a] = nonIgnored;
      let front = 0;
      let back = nonIgnored;
      for (let g = 0; g < G; g++) {
        if (gtIgnoreRaw[g]) {
          perm[back] = g;
          gtIg[back++] = 1;
        } else {
          perm[front] = g;
          gtIg[front++] = 0;
        }
      }

      for (let t = 0; t < T; t++) {
        const flagBase = pos * AT + a * T + t;
        gtMatched.fill(0, 0, G);
        for (let d = 0; d < D; d++) {
          let flags = 0;
          if (G > 0) {
            let best = thresholds[t]!;
            let m = -1;
            const row = d * G;
            for (let gi = 0; gi < G; gi++) {
              const g = perm[gi]!;
              // A GT already matched is skipped unless it is a crowd region.
              if (gtMatched[gi] && !ga.iscrowd[gtGroups.order[gLo + g]!]) continue;
              // Matched to a regular GT and reached the ignored ones: stop.
              if (m > -1 && gtIg[m] === 0 && gtIg[gi] === 1) break;
              const v = ious[row + g]!;
              if (v < best) continue;
              best = v;
              m = gi;
            }
            if (m > -1) {
              if (gtIg[m]) flags |= IGNORED;
              // pycocotools records the GT id as the match; an id of 0 reads as "unmatched" later.
              if (ga.id[gtGroups.order[gLo + perm[m]!]!] !== 0) flags |= MATCHED;
              gtMatched[m] = 1;
            }
          }
          if (!(flags & MATCHED)) {
            const db = dtIdx[d]! * 4;
            const area = dt.bbox[db + 2]! * dt.bbox[db + 3]!;
            if (area < lo || area > hi) flags |= IGNORED;
          }
          dtFlags[flagBase + d * AT] = flags;
        }
      }
    }
  }
}

/**
 * Detections built in code (not read from a file) are checked here: a non-finite score or box, or a negative width or
 * height, is a RangeError naming the detection, not a silently wrong number.
 */
function checkDetections(dt: DetectionSet): void {
  const n = dt.score.length;
  if (dt.imageId.length !== n || dt.categoryId.length !== n || dt.bbox.length !== 4 * n) {
    throw new RangeError(`detections: ${n} scores but ${dt.imageId.length} image ids, ${dt.categoryId.length} category ids, ${dt.bbox.length / 4} boxes`);
  }
  for (let j = 0; j < n; j++) {
    const w = dt.bbox[4 * j + 2]!;
    const h = dt.bbox[4 * j + 3]!;
    if (!Number.isFinite(dt.score[j]!)) throw new RangeError(`detection ${j}: score ${dt.score[j]} is not finite`);
    if (!(Number.isFinite(dt.bbox[4 * j]!) && Number.isFinite(dt.bbox[4 * j + 1]!) && Number.isFinite(w) && Number.isFinite(h)) || w < 0 || h < 0) {
      throw new RangeError(`detection ${j}: bbox [${Array.from(dt.bbox.subarray(4 * j, 4 * j + 4)).join(', ')}] is not 4 finite numbers with w, h >= 0`);
    }
  }
}

/** Group of cell `c = k * I + i`: key `i * numCatIds + k`, or the image's group `c` without useCats. */
function cellKey(c: number, I: number, numCatIds: number, useCats: boolean): number {
  if (!useCats) return c;
  const k = Math.floor(c / I);
  return (c - k * I) * numCatIds + k;
}

/** Accumulated curves: `precision[T, R, K, A, M]`, `recall[T, K, A, M]`, -1 where a setting has no ground truth. */
export interface Accumulation {
  params: EvalParams;
  /** `[T, R, K, A, M]` */
  counts: [number, number, number, number, number];
  precision: Float64Array;
  recall: Float64Array;
  /** Score at each recall threshold, as pycocotools' `eval['scores']` `[T, R, K, A, M]`. */
  scores: Float64Array;
}

/** Reusable buffers of {@link sortPositionsByScoreDesc}. */
class RadixScratch {
  keysHi = new Uint32Array(0);
  keysLo = new Uint32Array(0);
  a = new Int32Array(0);
  b = new Int32Array(0);
  readonly count = new Int32Array(256);
  readonly bits = new Float64Array(1);
  readonly words = new Uint32Array(this.bits.buffer);

  ensure(n: number): void {
    if (this.a.length >= n) return;
    this.keysHi = new Uint32Array(n);
    this.keysLo = new Uint32Array(n);
    this.a = new Int32Array(n);
    this.b = new Int32Array(n);
  }
}

/**
 * Positions `lo .. lo + n` ordered by `score` descending, ties in position order: a stable LSD radix sort on the
 * scores' bit patterns (8 passes of 8 bits), equivalent to numpy's `argsort(-scores, kind='mergesort')` and far
 * cheaper than a comparison sort with a callback. Returns a view of scratch memory, valid until the next call.
 */
function sortPositionsByScoreDesc(score: Float64Array, lo: number, n: number, s: RadixScratch): Int32Array {
  s.ensure(n);
  const { keysHi, keysLo, count, bits, words } = s;
  // Key = bits of the score mapped so that unsigned ascending order is score descending.
  // (Little-endian: words[1] holds the sign and exponent.)
  for (let j = 0; j < n; j++) {
    bits[0] = score[lo + j]! + 0; // -0 -> +0: numpy treats them as equal
    let hi = words[1]!;
    let low = words[0]!;
    if (hi & 0x80000000) {
      hi = ~hi >>> 0;
      low = ~low >>> 0;
    } else {
      hi = (hi | 0x80000000) >>> 0;
    }
    // Ascending in the mapped value is ascending in score; invert for descending.
    keysHi[j] = ~hi >>> 0;
    keysLo[j] = ~low >>> 0;
  }
  let src = s.a;
  let dst = s.b;
  for (let j = 0; j < n; j++) src[j] = j;
  for (let pass = 0; pass < 8; pass++) {
    const keys = pass < 4 ? keysLo : keysHi;
    const shift = (pass & 3) * 8;
    count.fill(0);
    for (let j = 0; j < n; j++) count[(keys[src[j]!]! >>> shift) & 255]!++;
    // Skip a pass where every key has the same byte (common in the low bits of rounded scores).
    let same = false;
    for (let d = 0; d < 256; d++) {
      if (count[d] === n) same = true;
      if (count[d]! > 0) break;
    }
    if (same) continue;
    let sum = 0;
    for (let d = 0; d < 256; d++) {
      const c = count[d]!;
      count[d] = sum;
      sum += c;
    }
    for (let j = 0; j < n; j++) {
      const v = src[j]!;
      dst[count[(keys[v]! >>> shift) & 255]!++] = v;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  for (let j = 0; j < n; j++) src[j]! += lo;
  return src.subarray(0, n);
}

/** numpy's `np.spacing(1)`. */
const EPS = 2.220446049250313e-16;

/**
 * pycocotools `accumulate()`: per (category, area range, maxDets), detections of all images in score order (stable),
 * cumulative TP/FP per IoU threshold, recall, precision envelope, precision at each recall threshold.
 */
export function accumulate(ev: ImageEvaluation): Accumulation {
  const p = ev.params;
  const T = p.iouThrs.length;
  const R = p.recThrs.length;
  const K = ev.numCats;
  const A = p.areaRng.length;
  const M = p.maxDets.length;
  const I = ev.numImages;
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const scores = new Float64Array(T * R * K * A * M).fill(-1);

  // Rank of each kept detection within its image (0 = highest score).
  const rank = new Int32Array(ev.dtScore.length);
  for (let c = 0; c < K * I; c++) {
    for (let q = ev.dtOffset[c]!; q < ev.dtOffset[c + 1]!; q++) rank[q] = q - ev.dtOffset[c]!;
  }
  const score = ev.dtScore;
  const radix = new RadixScratch();
  let sel = new Int32Array(64);
  let tpc = new Float64Array(64);
  let full = new Int32Array(64);
  let pr = new Float64Array(64);
  const flags = ev.dtFlags;
  let local = new Uint8Array(64 * A * T);
  const AT = A * T;

  for (let k = 0; k < K; k++) {
    const lo = ev.dtOffset[k * I]!;
    const hi = ev.dtOffset[(k + 1) * I]!;
    const n = hi - lo;
    if (sel.length < n) {
      sel = new Int32Array(n);
      tpc = new Float64Array(n);
      full = new Int32Array(n);
      pr = new Float64Array(n);
      local = new Uint8Array(n * AT);
    }
    // Positions are laid out image by image, so position order is pycocotools' concatenation order; a stable
    // sort by score keeps it for ties.
    const sorted = sortPositionsByScoreDesc(score, lo, n, radix);
    // Flags in score order, [A * T, n]: each detection's flags are read once, then every curve reads sequentially.
    for (let j = 0; j < n; j++) {
      const src = sorted[j]! * AT;
      for (let at = 0; at < AT; at++) local[at * n + j] = flags[src + at]!;
    }

    for (let m = 0; m < M; m++) {
      const maxDet = p.maxDets[m]!;
      let nd = 0;
      // sel: indices into the sorted list of the detections within maxDet of their image.
      for (let j = 0; j < n; j++) {
        if (rank[sorted[j]!]! < maxDet) sel[nd++] = j;
      }
      for (let a = 0; a < A; a++) {
        let npig = 0;
        for (let i = 0; i < I; i++) npig += ev.gtNonIgnored[(k * I + i) * A + a]!;
        if (npig === 0) continue;
        for (let t = 0; t < T; t++) {
          const flagBase = (a * T + t) * n;
          let tp = 0;
          let fp = 0;
          // pycocotools' curve has an entry per detection: rc = tp / npig, pr = tp / (fp + tp + eps). An ignored
          // detection repeats the previous entry (or rc = pr = 0 before the first counted one), which changes
          // neither the envelope nor which value searchsorted finds, except that a threshold <= 0 finds entry 0.
          // So only counted detections enter the curve (tpc, pr), with `full` mapping back to entries for scores.
          let nc = 0;
          for (let j = 0; j < nd; j++) {
            const f = local[flagBase + sel[j]!]!;
            if (f & IGNORED) continue;
            if (f & MATCHED) tp++;
            else fp++;
            tpc[nc] = tp;
            pr[nc] = tp / (fp + tp + EPS);
            full[nc++] = j;
          }
          recall[((t * K + k) * A + a) * M + m] = nd ? tp / npig : 0;
          for (let j = nc - 1; j > 0; j--) {
            if (pr[j]! > pr[j - 1]!) pr[j - 1] = pr[j]!;
          }
          // pycocotools fills q in threshold order and stops at the first index past the curve (a caught
          // IndexError), leaving the remaining thresholds at 0.
          let past = false;
          for (let r = 0; r < R; r++) {
            const at = (((t * R + r) * K + k) * A + a) * M + m;
            const x = p.recThrs[r]!;
            const idx = past ? nc : searchRecall(tpc, npig, nc, x);
            if (!past && x <= 0 && nd > 0) {
              // Entry 0 of the full curve: its envelope is the maximum of all (0 when nothing is counted).
              precision[at] = nc > 0 ? pr[0]! : 0;
              scores[at] = score[sorted[sel[0]!]!]!;
            } else if (idx < nc) {
              precision[at] = pr[idx]!;
              scores[at] = score[sorted[sel[full[idx]!]!]!]!;
            } else {
              past = true;
              precision[at] = 0;
              scores[at] = 0;
            }
          }
        }
      }
    }
  }
  return { params: p, counts: [T, R, K, A, M], precision, recall, scores };
}

/**
 * numpy `searchsorted(rc, x, side='left')` with `rc[j] = tp[j] / npig`: the first index j in `[0, n)` with
 * `rc[j] >= x`, or n.
 */
function searchRecall(tp: Float64Array, npig: number, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (tp[mid]! / npig < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * numpy's summation of a float64 array as pycocotools' reference numbers were computed (`np.add.reduce` through a
 * buffered iterator): chunks of 8192 values, each summed pairwise (blocks of at most 128 values, eight
 * accumulators), the chunk sums added in order to 0. This reproduces every fixture stat bit for bit; a plain
 * left-to-right sum differs in the last bits.
 */
export function numpySum(values: ArrayLike<number>): number {
  let res = 0;
  for (let c = 0; c < values.length; c += 8192) res += pairwiseSum(values, c, Math.min(8192, values.length - c));
  return res;
}

function pairwiseSum(a: ArrayLike<number>, start: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i]!;
    return res;
  }
  if (n <= 128) {
    const r = [a[start]!, a[start + 1]!, a[start + 2]!, a[start + 3]!, a[start + 4]!, a[start + 5]!, a[start + 6]!, a[start + 7]!];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j]! += a[start + i + j]!;
    }
    let res = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

/** Mean of the entries above -1 (`np.mean(s[s > -1])`), or -1 when there are none. */
export function meanValid(values: ArrayLike<number>): number {
  const kept: number[] = [];
  for (let i = 0; i < values.length; i++) if (values[i]! > -1) kept.push(values[i]!);
  if (kept.length === 0) return -1;
  return numpySum(kept) / kept.length;
}

/** Selection for {@link summarizeOne}. */
export interface SummarySpec {
  /** true: average precision; false: average recall. */
  ap: boolean;
  /** One IoU threshold (must equal an entry of iouThrs exactly), or all when undefined. */
  iouThr?: number;
  /** Area range label. */
  areaRng: string;
  maxDets: number;
}

/**
 * pycocotools `_summarize`: mean over the selected entries above -1, or -1 when none (an IoU threshold, area label
 * or maxDets value that is not in the parameters selects nothing). Entries are visited in `t, r, k` order as numpy
 * flattens them.
 */
export function summarizeOne(acc: Accumulation, spec: SummarySpec): number {
  const p = acc.params;
  const [T, R, K, A, M] = acc.counts;
  const ts = spec.iouThr === undefined ? range(T) : range(T).filter((t) => p.iouThrs[t] === spec.iouThr);
  const a = p.areaRngLbl.indexOf(spec.areaRng);
  const m = p.maxDets.indexOf(spec.maxDets);
  if (a < 0 || m < 0) return -1;
  const picked: number[] = [];
  for (const t of ts) {
    if (spec.ap) {
      for (let r = 0; r < R; r++) {
        for (let k = 0; k < K; k++) picked.push(acc.precision[(((t * R + r) * K + k) * A + a) * M + m]!);
      }
    } else {
      for (let k = 0; k < K; k++) picked.push(acc.recall[((t * K + k) * A + a) * M + m]!);
    }
  }
  return meanValid(picked);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The 12 summary lines' settings, in pycocotools' order (`_summarizeDets`). Needs at least 3 maxDets. */
export function summarySpecs(maxDets: readonly number[]): SummarySpec[] {
  if (maxDets.length < 3) {
    throw new RangeError(`the 12-line summary needs at least 3 maxDets values (it reads maxDets[0..2]), got ${maxDets.length}`);
  }
  const [m0, m1, m2] = maxDets as [number, number, number];
  return [
    { ap: true, areaRng: 'all', maxDets: 100 },
    { ap: true, iouThr: 0.5, areaRng: 'all', maxDets: m2 },
    { ap: true, iouThr: 0.75, areaRng: 'all', maxDets: m2 },
    { ap: true, areaRng: 'small', maxDets: m2 },
    { ap: true, areaRng: 'medium', maxDets: m2 },
    { ap: true, areaRng: 'large', maxDets: m2 },
    { ap: false, areaRng: 'all', maxDets: m0 },
    { ap: false, areaRng: 'all', maxDets: m1 },
    { ap: false, areaRng: 'all', maxDets: m2 },
    { ap: false, areaRng: 'small', maxDets: m2 },
    { ap: false, areaRng: 'medium', maxDets: m2 },
    { ap: false, areaRng: 'large', maxDets: m2 },
  ];
}

/**
 * pycocotools `summarize()` for bbox: the 12 stats. Like pycocotools, the first line always reads maxDets = 100
 * (so it is -1 when 100 is not among the maxDets), the others read maxDets[0..2].
 */
export function summarize(acc: Accumulation): number[] {
  return summarySpecs(acc.params.maxDets).map((spec) => summarizeOne(acc, spec));
}

/** Per-category figures at the largest maxDets, area 'all' (-1 where the category has no ground truth). */
export interface CategoryResult {
  /** COCO category id; -1 when categories are not used. */
  categoryId: number;
  /** AP averaged over IoU thresholds. */
  ap: number;
  /** AP at IoU 0.5 and 0.75 (-1 when that threshold is not evaluated). */
  ap50: number;
  ap75: number;
  /** AP for small, medium and large objects (-1 when the area label is absent or has no GT). */
  apSmall: number;
  apMedium: number;
  apLarge: number;
  /** AR averaged over IoU thresholds. */
  ar: number;
}

/** Per-category AP and AR at the largest maxDets (pycocotools' default 100), averaged over IoU thresholds. */
export function perCategory(acc: Accumulation): CategoryResult[] {
  const p = acc.params;
  const [T, R, K, A, M] = acc.counts;
  const m = M - 1;
  const ap = (k: number, areaLabel: string, iouThr?: number): number => {
    const a = p.areaRngLbl.indexOf(areaLabel);
    if (a < 0) return -1;
    const picked: number[] = [];
    for (let t = 0; t < T; t++) {
      if (iouThr !== undefined && p.iouThrs[t] !== iouThr) continue;
      for (let r = 0; r < R; r++) picked.push(acc.precision[(((t * R + r) * K + k) * A + a) * M + m]!);
    }
    return meanValid(picked);
  };
  const ar = (k: number): number => {
    const a = p.areaRngLbl.indexOf('all');
    if (a < 0) return -1;
    const picked: number[] = [];
    for (let t = 0; t < T; t++) picked.push(acc.recall[((t * K + k) * A + a) * M + m]!);
    return meanValid(picked);
  };
  const ids = p.useCats ? p.catIds : [-1];
  return ids.map((categoryId, k) => ({
    categoryId,
    ap: ap(k, 'all'),
    ap50: ap(k, 'all', 0.5),
    ap75: ap(k, 'all', 0.75),
    apSmall: ap(k, 'small'),
    apMedium: ap(k, 'medium'),
    apLarge: ap(k, 'large'),
    ar: ar(k),
  }));
}

/** Everything one evaluation produces. */
export interface CocoEvalResult {
  params: EvalParams;
  /** The 12 summary numbers (see {@link summarize}). */
  stats: number[];
  perCategory: CategoryResult[];
  accumulation: Accumulation;
}

/** evaluate + accumulate + summarize + per-category figures, with `overrides` on the default parameters. */
export function cocoEvaluate(gt: GroundTruthSet, dt: DetectionSet, overrides: Partial<EvalParams> = {}): CocoEvalResult {
  const params = resolveParams(gt, overrides);
  const accumulation = accumulate(evaluateImages(gt, dt, params));
  return { params, stats: summarize(accumulation), perCategory: perCategory(accumulation), accumulation };
}

/**
 * Indices of `scores` by score descending, ties in index order (numpy `argsort(-scores, kind='mergesort')`).
 * @param scores `[N]` finite scores.
 * @returns `[N]` indices.
 */
export function argsortDescStable(scores: Float64Array): Int32Array {
  return sortPositionsByScoreDesc(scores, 0, scores.length, new RadixScratch()).slice();
}
