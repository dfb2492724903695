// A deliberately plain evaluator for differential tests: one object per annotation, per-cell lists, sorting with
// Array.prototype.sort (stable), the steps of pycocotools' evaluate / evaluateImg / accumulate written out one to
// one. No grouping keys, no typed-array layout, no radix sort, no shortcuts: if the optimised evaluator and this one
// agree bit for bit on random cases, the optimisations changed nothing.
import type { EvalParams } from '../../src/eval/cocoeval.js';

export interface NaiveGt {
  id: number;
  image_id: number;
  category_id: number;
  bbox: number[];
  area: number;
  iscrowd: number;
}

export interface NaiveDt {
  image_id: number;
  category_id: number;
  bbox: number[];
  score: number;
}

interface Dt extends NaiveDt {
  id: number;
  area: number;
}

interface EvalImg {
  dtScores: number[];
  dtMatches: number[][]; // [T][D] matched GT id or 0
  dtIgnore: boolean[][]; // [T][D]
  gtIgnore: boolean[];
}

const EPS = 2.220446049250313e-16;

function iou(d: number[], g: number[], crowd: boolean): number {
  const w = Math.min(d[2]! + d[0]!, g[2]! + g[0]!) - Math.max(d[0]!, g[0]!);
  if (w <= 0) return 0;
  const h = Math.min(d[3]! + d[1]!, g[3]! + g[1]!) - Math.max(d[1]!, g[1]!);
  if (h <= 0) return 0;
  const i = w * h;
  const da = d[2]! * d[3]!;
  return i / (crowd ? da : da + g[2]! * g[3]! - i);
}

function byScoreDesc<T extends { score: number }>(list: T[]): T[] {
  return [...list].sort((a, b) => b.score - a.score);
}

export function naiveEvaluate(gtAnns: NaiveGt[], results: NaiveDt[], p: EvalParams): { precision: Float64Array; recall: Float64Array; scores: Float64Array } {
  const dts: Dt[] = results.map((d, j) => ({ ...d, id: j + 1, area: d.bbox[2]! * d.bbox[3]! }));
  const catSet = new Set(p.catIds);
  const gts = new Map<string, NaiveGt[]>();
  const dtsBy = new Map<string, Dt[]>();
  const push = <T>(m: Map<string, T[]>, key: string, v: T): void => {
    if (!m.has(key)) m.set(key, []);
    m.get(key)!.push(v);
  };
  // _prepare: annotations of the evaluated images (and categories), image by image in imgIds order.
  for (const img of p.imgIds) {
    for (const g of gtAnns) if (g.image_id === img && (!p.useCats || catSet.has(g.category_id))) push(gts, `${img},${g.category_id}`, g);
    for (const d of dts) if (d.image_id === img && (!p.useCats || catSet.has(d.category_id))) push(dtsBy, `${img},${d.category_id}`, d);
  }
  const cellGt = (img: number, cat: number): NaiveGt[] => (p.useCats ? (gts.get(`${img},${cat}`) ?? []) : p.catIds.flatMap((c) => gts.get(`${img},${c}`) ?? []));
  const cellDt = (img: number, cat: number): Dt[] => (p.useCats ? (dtsBy.get(`${img},${cat}`) ?? []) : p.catIds.flatMap((c) => dtsBy.get(`${img},${c}`) ?? []));
  const maxDetAll = p.maxDets[p.maxDets.length - 1]!;
  const catIds = p.useCats ? p.catIds : [-1];

  const evaluateImg = (img: number, cat: number, aRng: [number, number]): EvalImg | null => {
    const gtAll = cellGt(img, cat);
    const dtAll = cellDt(img, cat);
    if (gtAll.length === 0 && dtAll.length === 0) return null;
    const ignore = (g: NaiveGt): boolean => g.iscrowd !== 0 || g.area < aRng[0] || g.area > aRng[1];
    const gt = [...gtAll.filter((g) => !ignore(g)), ...gtAll.filter((g) => ignore(g))];
    const dt = byScoreDesc(dtAll).slice(0, maxDetAll);
    const T = p.iouThrs.length;
    const gtm = Array.from({ length: T }, () => new Array<number>(gt.length).fill(0));
    const dtm = Array.from({ length: T }, () => new Array<number>(dt.length).fill(0));
    const dtIg = Array.from({ length: T }, () => new Array<boolean>(dt.length).fill(false));
    const gtIg = gt.map(ignore);
    if (gt.length > 0 && dt.length > 0) {
      p.iouThrs.forEach((t, ti) => {
        dt.forEach((d, di) => {
          let best = Math.min(t, 1 - 1e-10);
          let m = -1;
          for (let gi = 0; gi < gt.length; gi++) {
            if (gtm[ti]![gi]! > 0 && !gt[gi]!.iscrowd) continue;
            if (m > -1 && !gtIg[m] && gtIg[gi]) break;
            const v = iou(d.bbox, gt[gi]!.bbox, gt[gi]!.iscrowd !== 0);
            if (v < best) continue;
            best = v;
            m = gi;
          }
          if (m === -1) return;
          dtIg[ti]![di] = gtIg[m]!;
          dtm[ti]![di] = gt[m]!.id;
          gtm[ti]![m] = d.id;
        });
      });
    }
    for (let ti = 0; ti < T; ti++) {
      dt.forEach((d, di) => {
        if (dtm[ti]![di] === 0 && (d.area < aRng[0] || d.area > aRng[1])) dtIg[ti]![di] = true;
      });
    }
    return { dtScores: dt.map((d) => d.score), dtMatches: dtm, dtIgnore: dtIg, gtIgnore: gtIg };
  };

  const T = p.iouThrs.length;
  const R = p.recThrs.length;
  const K = catIds.length;
  const A = p.areaRng.length;
  const M = p.maxDets.length;
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const scores = new Float64Array(T * R * K * A * M).fill(-1);
  catIds.forEach((cat, k) => {
    p.areaRng.forEach((aRng, a) => {
      const E = p.imgIds.map((img) => evaluateImg(img, cat, aRng)).filter((e): e is EvalImg => e !== null);
      if (E.length === 0) return;
      p.maxDets.forEach((maxDet, m) => {
        const entries = E.flatMap((e) => e.dtScores.slice(0, maxDet).map((score, d) => ({ score, e, d })));
        const sorted = byScoreDesc(entries);
        const npig = E.reduce((n, e) => n + e.gtIgnore.filter((ig) => !ig).length, 0);
        if (npig === 0) return;
        for (let t = 0; t < T; t++) {
          let tp = 0;
          let fp = 0;
          const rc: number[] = [];
          const pr: number[] = [];
          for (const { e, d } of sorted) {
            const matched = e.dtMatches[t]![d]! !== 0;
            const ignored = e.dtIgnore[t]![d]!;
            if (matched && !ignored) tp++;
            if (!matched && !ignored) fp++;
            rc.push(tp / npig);
            pr.push(tp / (fp + tp + EPS));
          }
          const nd = sorted.length;
          recall[((t * K + k) * A + a) * M + m] = nd ? rc[nd - 1]! : 0;
          for (let i = nd - 1; i > 0; i--) if (pr[i]! > pr[i - 1]!) pr[i - 1] = pr[i]!;
          const q = new Array<number>(R).fill(0);
          const ss = new Array<number>(R).fill(0);
          for (let r = 0; r < R; r++) {
            let idx = 0;
            while (idx < nd && rc[idx]! < p.recThrs[r]!) idx++;
            if (idx >= nd) break;
            q[r] = pr[idx]!;
            ss[r] = sorted[idx]!.score;
          }
          q.forEach((v, r) => (precision[(((t * R + r) * K + k) * A + a) * M + m] = v));
          ss.forEach((v, r) => (scores[(((t * R + r) * K + k) * A + a) * M + m] = v));
        }
      });
    });
  });
  return { precision, recall, scores };
}
