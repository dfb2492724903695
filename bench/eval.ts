/**
 * COCO bbox evaluation at val2017 scale: 5,000 images, about 39,000 ground-truth boxes, 100 detections per image
 * (500,000), generated deterministically. Prints time, peak memory and the 12 stats beside pycocotools' figure.
 *
 *   npm run bench:eval                       # generate .bench/eval/{gt,dt}.json, evaluate in a fresh process
 *   npx tsx bench/eval.ts --images 500       # a smaller case
 *
 * The evaluation runs in a child process that only reads the two files and evaluates, so its peak RSS is the
 * evaluator's own (plus Node's baseline), as pycocotools' figure is for loadRes + evaluate + accumulate + summarize.
 * pycocotools is not installable on this machine (not packaged in Debian, PyPI unreachable): its figure is the one
 * recorded in issue 2 for such a case on this machine, labelled as recorded.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cocoEvaluate } from '../src/eval/cocoeval.js';
import { readDetections, readGroundTruth } from '../src/eval/coco-json.js';
import { summaryLines } from '../src/eval/report.js';
import { Rng } from '../src/util/rng.js';

/** pycocotools on such a case on this machine, as recorded in issue 2 (not measured here). */
const PYCOCOTOOLS_RECORDED = { seconds: 50, peakRssMB: 2.4 * 1024 };

/** COCO 2017's 80 category ids (sparse in 1..90). */
const COCO_CATEGORY_IDS = [
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41,
  42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81,
  82, 84, 85, 86, 87, 88, 89, 90,
];

interface Options {
  images: number;
  detsPerImage: number;
  seed: number;
  out: string;
}

function parseOptions(argv: string[]): Options {
  const opts: Options = { images: 5000, detsPerImage: 100, seed: 2017, out: '.bench/eval' };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`missing value for ${argv[i]}`);
    if (argv[i] === '--images') opts.images = Number(value);
    else if (argv[i] === '--dets') opts.detsPerImage = Number(value);
    else if (argv[i] === '--seed') opts.seed = Number(value);
    else if (argv[i] === '--out') opts.out = value;
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return opts;
}

type Box = [number, number, number, number];

/** Rounds to 2 decimals as detectors' JSON usually carries them. */
const r2 = (x: number): number => Math.round(x * 100) / 100;

/**
 * A val2017-like case: 640x480-ish images, 1..15 objects each (mean about 7.8), log-uniform sizes so small,
 * medium and large all occur, 1% crowd regions; per image 100 detections: 3 jittered copies of each object
 * (scores falling with the jitter, some with the wrong class) and random boxes with low scores for the rest.
 * Scores have 3 decimals, so ties occur as in real results files.
 */
function generate(opts: Options): { gtJson: string; dtJson: string; numGt: number; numDt: number } {
  const rng = new Rng(opts.seed);
  const images: string[] = [];
  const anns: string[] = [];
  const dets: string[] = [];
  let annId = 1;
  for (let i = 0; i < opts.images; i++) {
    const imageId = 100000 + i * 7;
    const width = 480 + rng.int(161);
    const height = 360 + rng.int(161);
    images.push(JSON.stringify({ id: imageId, width, height, file_name: `${String(imageId).padStart(12, '0')}.jpg` }));
    const objects: { box: Box; cat: number }[] = [];
    const count = 1 + Math.floor(rng.next() * 14.6);
    for (let o = 0; o < count; o++) {
      const w = Math.min(width - 1, Math.exp(rng.uniform(Math.log(6), Math.log(width))));
      const h = Math.min(height - 1, w * Math.exp(rng.uniform(-0.7, 0.7)));
      const box: Box = [r2(rng.uniform(0, width - w)), r2(rng.uniform(0, height - h)), r2(w), r2(h)];
      const cat = COCO_CATEGORY_IDS[rng.int(COCO_CATEGORY_IDS.length)]!;
      const crowd = rng.next() < 0.01 ? 1 : 0;
      // Segmentation areas are smaller than their boxes.
      const area = r2(box[2] * box[3] * rng.uniform(0.45, 0.95));
      anns.push(JSON.stringify({ id: annId++, image_id: imageId, category_id: cat, bbox: box, area, iscrowd: crowd }));
      objects.push({ box, cat });
    }
    let made = 0;
    for (const { box, cat } of objects) {
      for (let c = 0; c < 3 && made < opts.detsPerImage; c++, made++) {
        const jitter = 0.04 + 0.12 * c * rng.next();
        const [x, y, w, h] = box;
        const bbox: Box = [r2(x + w * jitter * rng.normal()), r2(y + h * jitter * rng.normal()), r2(Math.max(1, w * (1 + jitter * rng.normal()))), r2(Math.max(1, h * (1 + jitter * rng.normal())))];
        const wrongClass = rng.next() < 0.1;
        const category = wrongClass ? COCO_CATEGORY_IDS[rng.int(COCO_CATEGORY_IDS.length)]! : cat;
        const score = Math.round(Math.max(0.001, Math.min(0.999, 0.95 - 0.25 * c - 2 * jitter + 0.1 * rng.normal())) * 1000) / 1000;
        dets.push(JSON.stringify({ image_id: imageId, category_id: category, bbox, score }));
      }
    }
    for (; made < opts.detsPerImage; made++) {
      const w = Math.exp(rng.uniform(Math.log(4), Math.log(width / 2)));
      const h = w * Math.exp(rng.uniform(-0.7, 0.7));
      const bbox: Box = [r2(rng.uniform(0, width - w)), r2(rng.uniform(0, Math.max(1, height - h))), r2(w), r2(h)];
      const score = Math.round(Math.max(0.001, 0.3 * rng.next() ** 2) * 1000) / 1000;
      dets.push(JSON.stringify({ image_id: imageId, category_id: COCO_CATEGORY_IDS[rng.int(COCO_CATEGORY_IDS.length)]!, bbox, score }));
    }
  }
  const categories = COCO_CATEGORY_IDS.map((id) => JSON.stringify({ id, name: `class${id}`, supercategory: 'thing' }));
  const gtJson = `{"info": {"description": "psdet bench (synthetic, val2017-sized)"}, "images": [\n${images.join(',\n')}\n], "annotations": [\n${anns.join(',\n')}\n], "categories": [\n${categories.join(',\n')}\n]}\n`;
  const dtJson = `[\n${dets.join(',\n')}\n]\n`;
  return { gtJson, dtJson, numGt: anns.length, numDt: dets.length };
}

interface ChildReport {
  readGtS: number;
  readDtS: number;
  evalS: number;
  totalS: number;
  /** User + system CPU time of the child (the machine is shared: wall time includes waiting for a core). */
  cpuS: number;
  peakRssMB: number;
  stats: number[];
  summary: string[];
  perCategoryAP: Record<string, number>;
}

/** Child mode: read both files, evaluate, report one JSON line. */
function child(gtPath: string, dtPath: string): void {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const gt = readGroundTruth(gtPath);
  const t1 = performance.now();
  const dt = readDetections(dtPath, gt);
  const t2 = performance.now();
  const result = cocoEvaluate(gt, dt);
  const t3 = performance.now();
  const report: ChildReport = {
    readGtS: (t1 - t0) / 1000,
    readDtS: (t2 - t1) / 1000,
    evalS: (t3 - t2) / 1000,
    totalS: (t3 - t0) / 1000,
    cpuS: (() => {
      const u = process.cpuUsage(cpu0);
      return (u.user + u.system) / 1e6;
    })(),
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    stats: result.stats,
    summary: summaryLines(result.params, result.stats),
    perCategoryAP: Object.fromEntries(result.perCategory.map((c) => [String(c.categoryId), c.ap])),
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

function row(cells: string[], widths: number[]): string {
  return `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
}

function main(): void {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    child(argv[1]!, argv[2]!);
    return;
  }
  const opts = parseOptions(argv);
  const t0 = performance.now();
  const { gtJson, dtJson, numGt, numDt } = generate(opts);
  mkdirSync(opts.out, { recursive: true });
  const gtPath = join(opts.out, 'gt.json');
  const dtPath = join(opts.out, 'dt.json');
  writeFileSync(gtPath, gtJson);
  writeFileSync(dtPath, dtJson);
  const genS = (performance.now() - t0) / 1000;
  console.log(
    `case: ${opts.images} images, ${numGt} GT boxes, ${numDt} detections (seed ${opts.seed}); ` +
      `gt.json ${(gtJson.length / 2 ** 20).toFixed(1)} MB, dt.json ${(dtJson.length / 2 ** 20).toFixed(1)} MB, generated in ${genS.toFixed(1)} s`,
  );

  const self = fileURLToPath(import.meta.url);
  const run = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', gtPath, dtPath], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (run.status !== 0) {
    process.stderr.write(run.stderr);
    throw new Error(`evaluation child exited with ${run.status}`);
  }
  const r = JSON.parse(run.stdout.trim().split('\n').pop()!) as ChildReport;
  const scale = numDt / 500_000;
  const peer = PYCOCOTOOLS_RECORDED;
  const widths = [62, 10, 34, 7];
  console.log('');
  console.log(row(['step', 'psdet', 'pycocotools (RECORDED in issue 2)', 'ratio'], widths));
  console.log(row(widths.map((w) => '-'.repeat(w)), widths));
  console.log(row(['read + validate GT JSON', `${r.readGtS.toFixed(2)} s`, '', ''], widths));
  console.log(row(['read + validate results JSON (loadRes)', `${r.readDtS.toFixed(2)} s`, '', ''], widths));
  console.log(row(['evaluate + accumulate + summarize + per-category', `${r.evalS.toFixed(2)} s`, '', ''], widths));
  const peerNote = scale === 1 ? '' : ' (full-size figure)';
  const ratio = (ours: number): string => (scale === 1 ? `${(peer.seconds / ours).toFixed(1)}x` : '-');
  console.log(row(['total wall time (loadRes + evaluate + accumulate + summarize)', `${r.totalS.toFixed(2)} s`, `about ${peer.seconds} s${peerNote}`, ratio(r.totalS)], widths));
  console.log(row(['total CPU time (user + system) of the same', `${r.cpuS.toFixed(2)} s`, `about ${peer.seconds} s${peerNote}`, ratio(r.cpuS)], widths));
  console.log(row(['peak RSS of the evaluating process', `${r.peakRssMB.toFixed(0)} MB`, `about ${(peer.peakRssMB / 1024).toFixed(1)} GB${peerNote}`, scale === 1 ? `${(peer.peakRssMB / r.peakRssMB).toFixed(1)}x` : '-'], widths));
  console.log('');
  console.log('pycocotools is not installed here (apt-cache search pycocotools: nothing; PyPI unreachable): its column is');
  console.log('the figure recorded in issue 2 for a case of this size on this machine, NOT measured in this run. Where');
  console.log('pycocotools is installed: python3 tools/pycocotools_bench.py .bench/eval/gt.json .bench/eval/dt.json');
  console.log(
    `machine: ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min): ` +
      'on a shared machine wall time includes waiting for a core; CPU time is the work itself.',
  );
  console.log(
    `targets: under 5 s: wall ${r.totalS.toFixed(2)} s (${r.totalS < 5 ? 'met' : 'NOT met'}), CPU ${r.cpuS.toFixed(2)} s (${r.cpuS < 5 ? 'met' : 'NOT met'}); ` +
      `under 1 GB peak RSS: ${r.peakRssMB.toFixed(0)} MB (${r.peakRssMB < 1024 ? 'met' : 'NOT met'})`,
  );
  console.log('');
  console.log(r.summary.join('\n'));
  console.log(`stats: ${JSON.stringify(r.stats)}`);
}

main();
