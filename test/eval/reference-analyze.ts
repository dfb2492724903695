// An independent error analysis for tests, written from the MATLAB CocoEval.analyze recipe without the evaluator:
// plain objects, per-image greedy matching written out, the precision envelope taken by its definition (best
// precision at any cut-off that reaches the recall threshold). For each category k and each step it builds the
// ground-truth list MATLAB builds: C75/C50/Loc use k's ground truth only; Sim keeps the ground truth of k's
// super-category with the other categories' boxes marked ignore; Oth keeps all ground truth, the other categories'
// boxes marked ignore. BG is 1 where Oth is above 0; FN is 1.

export interface RefGt {
  id: number;
  image_id: number;
  category_id: number;
  bbox: number[];
  area: number;
  iscrowd: number;
}

export interface RefDt {
  image_id: number;
  category_id: number;
  bbox: number[];
  score: number;
}

export interface RefCategory {
  categoryId: number;
  /** `[7][R]`, or null without ground truth. */
  curves: number[][] | null;
  ap: number[] | null;
}

function overlap(d: number[], g: number[], crowd: boolean): number {
  const ix = Math.min(d[0]! + d[2]!, g[0]! + g[2]!) - Math.max(d[0]!, g[0]!);
  const iy = Math.min(d[1]! + d[3]!, g[1]! + g[3]!) - Math.max(d[1]!, g[1]!);
  if (ix <= 0 || iy <= 0) return 0;
  const inter = ix * iy;
  const dArea = d[2]! * d[3]!;
  return inter / (crowd ? dArea : dArea + g[2]! * g[3]! - inter);
}

type Outcome = 'tp' | 'fp' | 'ignored';

/** One image: detections (already score-sorted, cut to maxDets) against GT with ignore flags, at one threshold. */
function matchImage(dts: RefDt[], gts: { g: RefGt; ignore: boolean }[], thr: number): Outcome[] {
  const order = [...gts.filter((x) => !x.ignore), ...gts.filter((x) => x.ignore)];
  const taken = new Array<boolean>(order.length).fill(false);
  return dts.map((d) => {
    let best = Math.min(thr, 1 - 1e-10);
    let m = -1;
    for (let q = 0; q < order.length; q++) {
      const { g, ignore } = order[q]!;
      if (taken[q] && g.iscrowd === 0) continue;
      if (m >= 0 && !order[m]!.ignore && ignore) break;
      const v = overlap(d.bbox, g.bbox, g.iscrowd !== 0);
      if (v >= best) {
        best = v;
        m = q;
      }
    }
    if (m < 0) return 'fp';
    taken[m] = true;
    if (order[m]!.ignore) return 'ignored';
    return order[m]!.g.id === 0 ? 'fp' : 'tp'; // pycocotools reads a match to GT id 0 as none
  });
}

/** Precision at each recall threshold for one category and step. */
function curve(
  imgIds: number[],
  dtsOf: (img: number) => RefDt[],
  gtsOf: (img: number) => { g: RefGt; ignore: boolean }[],
  thr: number,
  recThrs: number[],
  maxDets: number,
): number[] | null {
  const all: { score: number; img: number; rank: number; outcome: Outcome }[] = [];
  let npig = 0;
  imgIds.forEach((img, i) => {
    const gts = gtsOf(img);
    npig += gts.filter((x) => !x.ignore).length;
    const dts = [...dtsOf(img)].sort((a, b) => b.score - a.score).slice(0, maxDets);
    matchImage(dts, gts, thr).forEach((outcome, rank) => all.push({ score: dts[rank]!.score, img: i, rank, outcome }));
  });
  if (npig === 0) return null;
  all.sort((a, b) => b.score - a.score || a.img - b.img || a.rank - b.rank);
  const points: { recall: number; precision: number }[] = [];
  let tp = 0;
  let fp = 0;
  for (const d of all) {
    if (d.outcome === 'ignored') continue;
    if (d.outcome === 'tp') tp++;
    else fp++;
    points.push({ recall: tp / npig, precision: tp / (tp + fp) });
  }
  return recThrs.map((r) => Math.max(0, ...points.filter((p) => p.recall >= r).map((p) => p.precision)));
}

const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;

export function referenceAnalysis(
  gt: { images: { id: number }[]; categories: { id: number; supercategory?: string }[]; annotations: RefGt[] },
  dts: RefDt[],
  recThrs: number[],
  maxDets = 100,
): { perCategory: RefCategory[]; overall: { curves: number[][]; ap: number[] } } {
  const imgIds = [...new Set(gt.images.map((i) => i.id))].sort((a, b) => a - b);
  const superOf = new Map(gt.categories.map((c) => [c.id, c.supercategory]));
  const catIds = [...new Set(gt.categories.map((c) => c.id))].sort((a, b) => a - b);
  const perCategory = catIds.map((k): RefCategory => {
    const dtsOf = (img: number): RefDt[] => dts.filter((d) => d.image_id === img && d.category_id === k);
    const sup = superOf.get(k);
    const gtsOf =
      (keep: (g: RefGt) => boolean) =>
      (img: number): { g: RefGt; ignore: boolean }[] =>
        gt.annotations.filter((g) => g.image_id === img && keep(g)).map((g) => ({ g, ignore: g.iscrowd !== 0 || g.category_id !== k }));
    const own = gtsOf((g) => g.category_id === k);
    const similar = gtsOf((g) => g.category_id === k || (sup !== undefined && superOf.get(g.category_id) === sup));
    const any = gtsOf(() => true);
    const c75 = curve(imgIds, dtsOf, own, 0.75, recThrs, maxDets);
    if (c75 === null) return { categoryId: k, curves: null, ap: null };
    const c50 = curve(imgIds, dtsOf, own, 0.5, recThrs, maxDets)!;
    const loc = curve(imgIds, dtsOf, own, 0.1, recThrs, maxDets)!;
    const sim = curve(imgIds, dtsOf, similar, 0.1, recThrs, maxDets)!;
    const oth = curve(imgIds, dtsOf, any, 0.1, recThrs, maxDets)!;
    const bg = oth.map((p) => (p > 0 ? 1 : 0));
    const fn = recThrs.map(() => 1);
    const curves = [c75, c50, loc, sim, oth, bg, fn];
    return { categoryId: k, curves, ap: curves.map(mean) };
  });
  const kept = perCategory.filter((c) => c.curves !== null);
  const overallCurves = [0, 1, 2, 3, 4, 5, 6].map((s) => recThrs.map((_, r) => mean(kept.map((c) => c.curves![s]![r]!))));
  return { perCategory, overall: { curves: overallCurves, ap: overallCurves.map(mean) } };
}
