/**
 * COCO bbox evaluation benchmark: psdet beside pycocotools 2.0.11 and faster-coco-eval 1.7.1, measured in the same
 * run on the same generated case. The default case is val2017-sized: 5,000 images, about 39,000 GT boxes,
 * 100 detections per image (500,000), generated deterministically.
 *
 *   npm run bench:eval                                   # 5,000 images, all three evaluators
 *   npm run bench:eval -- --large                        # 100,000 images, 50 detections each (5 million)
 *   npm run bench:eval -- --large --no-peers             # the same, psdet only (pycocotools takes over 10 minutes)
 *   npm run bench:eval -- --images 100000 --dets 100 --no-peers   # a results file over 512 MiB (10 million)
 *
 * The peers are built from ../shared/peers into .peers/ (tools/build-peers.sh, about a minute, Debian packages)
 * when missing, and run with /usr/bin/python3 (tools/pycocotools_bench.py). Each evaluator runs in a fresh process
 * that only reads the two files and evaluates, so its peak RSS is its own. Times: reading the GT, reading the
 * results (loadRes), evaluate + accumulate + summarize, and their total; wall and CPU time (the machine may be
 * shared: wall time then includes waiting for a core). The 12 stats of all three must agree.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cocoEvaluate } from '../src/eval/cocoeval.js';
import { readDetections, readGroundTruth } from '../src/eval/coco-json.js';
import { Rng } from '../src/util/rng.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');
const PEERS = ['pycocotools', 'faster-coco-eval'] as const;
type Peer = (typeof PEERS)[number];

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
  peers: boolean;
  peersDir: string;
}

function parseOptions(argv: string[]): Options {
  const opts: Options = { images: 5000, detsPerImage: 100, seed: 2017, out: '', peers: true, peersDir: join(ROOT, '.peers') };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--large') {
      opts.images = 100_000;
      opts.detsPerImage = 50;
      continue;
    }
    if (flag === '--no-peers') {
      opts.peers = false;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`missing value for ${flag}`);
    if (flag === '--images') opts.images = Number(value);
    else if (flag === '--dets') opts.detsPerImage = Number(value);
    else if (flag === '--seed') opts.seed = Number(value);
    else if (flag === '--out') opts.out = value;
    else if (flag === '--peers-dir') opts.peersDir = resolve(value);
    else throw new Error(`unknown option ${flag}`);
  }
  if (opts.out === '') opts.out = join(ROOT, '.bench', opts.images === 5000 && opts.detsPerImage === 100 ? 'eval' : `eval-${opts.images}x${opts.detsPerImage}`);
  return opts;
}

type Box = [number, number, number, number];

/** Rounds to 2 decimals as detectors' JSON usually carries them. */
const r2 = (x: number): number => Math.round(x * 100) / 100;

/** Appends text to a file through a buffer of about 1 MB (the results file may exceed Node's string limit). */
class TextWriter {
  private readonly fd: number;
  private parts: string[] = [];
  private size = 0;
  bytes = 0;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  write(text: string): void {
    this.parts.push(text);
    this.size += text.length;
    if (this.size > 1 << 20) this.flush();
  }
  private flush(): void {
    const chunk = this.parts.join('');
    this.bytes += writeSync(this.fd, chunk);
    this.parts = [];
    this.size = 0;
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

/**
 * A val2017-like case written to `gtPath` and `dtPath`: 640x480-ish images, 1..15 objects each (mean about 7.8),
 * log-uniform sizes so small, medium and large all occur, 1% crowd regions; per image `detsPerImage` detections:
 * 3 jittered copies of each object (scores falling with the jitter, some with the wrong class) and random boxes
 * with low scores for the rest. Scores have 3 decimals, so ties occur as in real results files.
 */
function generate(opts: Options, gtPath: string, dtPath: string): { numGt: number; numDt: number } {
  const rng = new Rng(opts.seed);
  const images: string[] = [];
  const anns: string[] = [];
  const dt = new TextWriter(dtPath);
  let numDt = 0;
  const det = (d: object): void => {
    dt.write(`${numDt++ === 0 ? '[\n' : ',\n'}${JSON.stringify(d)}`);
  };
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
        det({ image_id: imageId, category_id: category, bbox, score });
      }
    }
    for (; made < opts.detsPerImage; made++) {
      const w = Math.exp(rng.uniform(Math.log(4), Math.log(width / 2)));
      const h = w * Math.exp(rng.uniform(-0.7, 0.7));
      const bbox: Box = [r2(rng.uniform(0, width - w)), r2(rng.uniform(0, Math.max(1, height - h))), r2(w), r2(h)];
      const score = Math.round(Math.max(0.001, 0.3 * rng.next() ** 2) * 1000) / 1000;
      det({ image_id: imageId, category_id: COCO_CATEGORY_IDS[rng.int(COCO_CATEGORY_IDS.length)]!, bbox, score });
    }
  }
  dt.write(numDt === 0 ? '[]\n' : '\n]\n');
  dt.close();
  const categories = COCO_CATEGORY_IDS.map((id) => JSON.stringify({ id, name: `class${id}`, supercategory: 'thing' }));
  const gt = new TextWriter(gtPath);
  gt.write(`{"info": {"description": "psdet bench (synthetic, val2017-sized)"}, "images": [\n`);
  gt.write(images.join(',\n'));
  gt.write(`\n], "annotations": [\n`);
  for (let a = 0; a < anns.length; a++) gt.write(a === 0 ? anns[a]! : `,\n${anns[a]!}`);
  gt.write(`\n], "categories": [\n${categories.join(',\n')}\n]}\n`);
  gt.close();
  return { numGt: anns.length, numDt };
}

/** The case's files, generated unless the same case is already there. */
function ensureCase(opts: Options): { gtPath: string; dtPath: string; numGt: number; numDt: number; reused: boolean; genS: number } {
  mkdirSync(opts.out, { recursive: true });
  const gtPath = join(opts.out, 'gt.json');
  const dtPath = join(opts.out, 'dt.json');
  const metaPath = join(opts.out, 'case.json');
  const key = JSON.stringify({ images: opts.images, dets: opts.detsPerImage, seed: opts.seed, version: 2 });
  if (existsSync(metaPath) && existsSync(gtPath) && existsSync(dtPath)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { key: string; numGt: number; numDt: number; dtBytes: number };
    if (meta.key === key && statSync(dtPath).size === meta.dtBytes) return { gtPath, dtPath, numGt: meta.numGt, numDt: meta.numDt, reused: true, genS: 0 };
  }
  const t0 = performance.now();
  const { numGt, numDt } = generate(opts, gtPath, dtPath);
  writeFileSync(metaPath, JSON.stringify({ key, numGt, numDt, dtBytes: statSync(dtPath).size }));
  return { gtPath, dtPath, numGt, numDt, reused: false, genS: (performance.now() - t0) / 1000 };
}

/** One evaluator's figures on the case. */
interface Figures {
  name: string;
  version: string;
  readGtS: number;
  readDtS: number;
  evalS: number;
  /** readGtS + readDtS + evalS. */
  totalS: number;
  /** User + system CPU time of the same steps (the machine may be shared: wall time includes waiting). */
  cpuS: number;
  peakRssMB: number;
  stats: number[];
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
  const cpu = process.cpuUsage(cpu0);
  const report: Figures = {
    name: 'psdet',
    version: (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    readGtS: (t1 - t0) / 1000,
    readDtS: (t2 - t1) / 1000,
    evalS: (t3 - t2) / 1000,
    totalS: (t3 - t0) / 1000,
    cpuS: (cpu.user + cpu.system) / 1e6,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    stats: result.stats,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

function runPsdet(gtPath: string, dtPath: string): Figures {
  const self = fileURLToPath(import.meta.url);
  const run = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', gtPath, dtPath], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (run.status !== 0) {
    process.stderr.write(run.stderr);
    throw new Error(`psdet evaluation child exited with ${run.status}`);
  }
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as Figures;
}

/** Builds the peers into `dir` when they are not there yet. */
function ensurePeers(dir: string): void {
  if (existsSync(join(dir, 'pycocotools', 'cocoeval.py')) && existsSync(join(dir, 'faster_coco_eval', '__init__.py'))) return;
  console.log(`building pycocotools and faster-coco-eval into ${dir} (tools/build-peers.sh, about a minute)...`);
  const build = spawnSync('bash', [join(ROOT, 'tools', 'build-peers.sh'), dir], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error(`building the peers failed (exit ${build.status}); run with --no-peers to measure psdet alone`);
}

function runPeer(peer: Peer, dir: string, gtPath: string, dtPath: string): Figures {
  const run = spawnSync('/usr/bin/python3', [join(ROOT, 'tools', 'pycocotools_bench.py'), gtPath, dtPath, peer], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
    env: { ...process.env, PYTHONPATH: dir },
  });
  const last = run.stdout.trim().split('\n').pop() ?? '';
  if (run.status !== 0) {
    process.stderr.write(run.stderr);
    throw new Error(`${peer} exited with ${run.status}: ${last}`);
  }
  const r = JSON.parse(last) as { version: string; load_gt_s: number; loadres_s: number; evaluate_s: number; accumulate_s: number; summarize_s: number; cpu_s: number; peak_rss_mb: number; stats: number[] };
  const evalS = r.evaluate_s + r.accumulate_s + r.summarize_s;
  return {
    name: peer,
    version: r.version,
    readGtS: r.load_gt_s,
    readDtS: r.loadres_s,
    evalS,
    totalS: r.load_gt_s + r.loadres_s + evalS,
    cpuS: r.cpu_s,
    peakRssMB: r.peak_rss_mb,
    stats: r.stats,
  };
}

function row(cells: string[], widths: number[]): string {
  return `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
}

const seconds = (s: number): string => `${s.toFixed(2)} s`;
const megabytes = (mb: number): string => (mb >= 1024 ? `${(mb / 1024).toFixed(2)} GB` : `${mb.toFixed(0)} MB`);

function maxDifference(a: readonly number[], b: readonly number[]): number {
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
}

function main(): void {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    child(argv[1]!, argv[2]!);
    return;
  }
  const opts = parseOptions(argv);
  if (opts.peers) ensurePeers(opts.peersDir);
  const c = ensureCase(opts);
  const mib = (path: string): string => `${(statSync(path).size / 2 ** 20).toFixed(1)} MiB`;
  console.log(
    `case: ${opts.images} images, ${c.numGt} GT boxes, ${c.numDt} detections (seed ${opts.seed}); gt.json ${mib(c.gtPath)}, dt.json ${mib(c.dtPath)}` +
      (c.reused ? ' (reused)' : `, generated in ${c.genS.toFixed(1)} s`),
  );

  const all: Figures[] = [runPsdet(c.gtPath, c.dtPath)];
  if (opts.peers) for (const peer of PEERS) all.push(runPeer(peer, opts.peersDir, c.gtPath, c.dtPath));
  const [ours] = all as [Figures, ...Figures[]];

  const widths = [44, ...all.map((f) => Math.max(16, `${f.name} ${f.version}`.length))];
  console.log('');
  console.log(row(['step', ...all.map((f) => `${f.name} ${f.version}`)], widths));
  console.log(row(widths.map((w) => '-'.repeat(w)), widths));
  console.log(row(['read + index the GT JSON', ...all.map((f) => seconds(f.readGtS))], widths));
  console.log(row(['read + validate the results JSON (loadRes)', ...all.map((f) => seconds(f.readDtS))], widths));
  console.log(row(['evaluate + accumulate + summarize', ...all.map((f) => seconds(f.evalS))], widths));
  console.log(row(['total, wall time', ...all.map((f) => seconds(f.totalS))], widths));
  console.log(row(['CPU time of the same (user + system)', ...all.map((f) => seconds(f.cpuS))], widths));
  console.log(row(['peak RSS of the process', ...all.map((f) => megabytes(f.peakRssMB))], widths));
  console.log('');
  for (const peer of all.slice(1)) {
    console.log(
      `${peer.name} / psdet: wall ${(peer.totalS / ours.totalS).toFixed(1)}x, CPU ${(peer.cpuS / ours.cpuS).toFixed(1)}x, peak RSS ${(peer.peakRssMB / ours.peakRssMB).toFixed(1)}x; ` +
        `largest difference of the 12 stats from psdet: ${maxDifference(peer.stats, ours.stats)}`,
    );
  }
  const py = all.find((f) => f.name === 'pycocotools');
  const fce = all.find((f) => f.name === 'faster-coco-eval');
  if (py !== undefined && fce !== undefined) {
    const agree = maxDifference(py.stats, ours.stats) === 0;
    console.log(`agreement: psdet ${agree ? 'equals' : 'DIFFERS FROM'} pycocotools on all 12 stats; faster-coco-eval differs from pycocotools by at most ${maxDifference(fce.stats, py.stats)}`);
    const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
    console.log(
      `targets: >= 30x pycocotools: ${(py.totalS / ours.totalS).toFixed(1)}x wall (${met(py.totalS / ours.totalS >= 30)}); ` +
        `>= 5x faster-coco-eval: ${(fce.totalS / ours.totalS).toFixed(1)}x wall (${met(fce.totalS / ours.totalS >= 5)})`,
    );
  }
  if (opts.images >= 100_000) {
    console.log(`targets (100k images): under 20 s: ${seconds(ours.totalS)} (${ours.totalS < 20 ? 'met' : 'NOT met'}); under 1 GB: ${megabytes(ours.peakRssMB)} (${ours.peakRssMB < 1024 ? 'met' : 'NOT met'})`);
  }
  console.log(
    `machine: ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min): ` +
      'on a shared machine wall time includes waiting for a core; CPU time is the work itself.',
  );
  console.log(`stats (psdet): ${JSON.stringify(ours.stats)}`);
}

main();
