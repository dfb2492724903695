/**
 * Chart rendering: the error-analysis figure (7 filled series of 101 points, legend, title) through src/util/charts.ts
 * (Vega-Lite -> Vega headless SVG -> sharp PNG), beside Apache ECharts' server-side SVG renderer drawing the same
 * figure when echarts is installed (it is not a dependency: `npm i --no-save echarts@6` to compare).
 *
 *   npm run bench:charts             # 30 figures each
 *   npx tsx bench/charts.ts --n 100
 *
 * Prints the first figure (module load included), the mean per figure after it, wall and CPU time, and the install
 * size of each library's dependency tree in node_modules.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ANALYSIS_STEPS } from '../src/eval/analyze.js';
import { STEP_COLORS, stepLabels } from '../src/eval/analyze-plot.js';
import { defaultRecThrs } from '../src/eval/cocoeval.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const n = Number(process.argv[process.argv.indexOf('--n') + 1] ?? 30) || 30;

/** Smooth made-up curves: step s falls from 0.9 + 0.015 s and stops at recall 0.6 + 0.05 s; FN is 1. */
function curves(): { precision: Float64Array; ap: number[] } {
  const R = 101;
  const precision = new Float64Array(7 * R);
  for (let s = 0; s < 7; s++) {
    for (let r = 0; r < R; r++) {
      const x = r / 100;
      precision[s * R + r] = s === 6 ? 1 : x <= 0.6 + 0.05 * s ? 0.9 + 0.015 * s - 0.4 * x * x : 0;
    }
  }
  return { precision, ap: ANALYSIS_STEPS.map((_, s) => precision.subarray(s * R, (s + 1) * R).reduce((a, b) => a + b, 0) / R) };
}

function dirSize(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, name) => sum + dirSize(join(path, name)), 0);
}

/** A package's folder without its nested node_modules. */
function ownSize(path: string): number {
  return readdirSync(path).reduce((sum, name) => (name === 'node_modules' ? sum : sum + dirSize(join(path, name))), 0);
}

/** Bytes on disk of the given packages and every package they depend on (production dependencies), resolved as Node does. */
function installSize(packages: string[]): { bytes: number; count: number } {
  const seen = new Set<string>();
  const visit = (name: string, from: string): void => {
    // Node's lookup: <dir>/node_modules/<name> for <from> and each folder above it, up to the project root.
    let found: string | undefined;
    for (let dir = from; found === undefined; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', name);
      if (!dir.endsWith('/node_modules') && existsSync(join(candidate, 'package.json'))) found = candidate;
      if (dir === ROOT.replace(/\/$/, '') || dirname(dir) === dir) break;
    }
    if (found === undefined || seen.has(found)) return;
    seen.add(found);
    const pkg = JSON.parse(readFileSync(join(found, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep, found);
  };
  for (const p of packages) visit(p, ROOT);
  return { bytes: [...seen].reduce((s, d) => s + ownSize(d), 0), count: seen.size };
}

interface Timing {
  firstMs: number;
  /** Mean per figure: wall and CPU (user + system) time of the SVG and of the PNG. */
  svgMs: number;
  svgCpuMs: number;
  pngMs: number;
  pngCpuMs: number;
}

async function measure(renderSvg: () => Promise<string>, toPng: (svg: string) => Promise<Buffer>): Promise<Timing> {
  const t0 = performance.now();
  await toPng(await renderSvg());
  const firstMs = performance.now() - t0;
  const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;
  let svgMs = 0;
  let pngMs = 0;
  let svgCpuMs = 0;
  let pngCpuMs = 0;
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const a = performance.now();
    const svg = await renderSvg();
    const b = performance.now();
    const c1 = process.cpuUsage();
    await toPng(svg);
    pngMs += performance.now() - b;
    pngCpuMs += cpuMs(process.cpuUsage(c1));
    svgMs += b - a;
    svgCpuMs += cpuMs(process.cpuUsage(c0)) - cpuMs(process.cpuUsage(c1));
  }
  return { firstMs, svgMs: svgMs / n, svgCpuMs: svgCpuMs / n, pngMs: pngMs / n, pngCpuMs: pngCpuMs / n };
}

/** The part of echarts' API used here (echarts is not a dependency, so its types are not either). */
interface ECharts {
  init(
    dom: null,
    theme: null,
    opts: { renderer: 'svg'; ssr: true; width: number; height: number },
  ): { setOption(option: object): void; renderToSVGString(): string; dispose(): void };
}

async function echartsSvg(echarts: ECharts, c: ReturnType<typeof curves>): Promise<string> {
  const rs = defaultRecThrs();
  const labels = stepLabels(c.ap);
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: 500, height: 450 });
  const series = ANALYSIS_STEPS.map((_, s) => ({
    name: labels[s],
    type: 'line',
    data: rs.map((r, j) => [r, c.precision[s * 101 + j]!]),
    showSymbol: false,
    lineStyle: { width: 0.6, color: '#333' },
    itemStyle: { color: STEP_COLORS[s] },
    areaStyle: { color: STEP_COLORS[s], opacity: 1 },
  })).reverse();
  chart.setOption({
    animation: false,
    title: { text: 'overall', left: 'center' },
    legend: { data: labels, orient: 'vertical', left: 70, bottom: 60, backgroundColor: '#fff', borderColor: '#999', z: 10 },
    xAxis: { type: 'value', min: 0, max: 1, name: 'recall', nameLocation: 'middle', nameGap: 25 },
    yAxis: { type: 'value', min: 0, max: 1, name: 'precision', nameLocation: 'middle', nameGap: 35 },
    series,
  });
  const svg = chart.renderToSVGString();
  chart.dispose();
  return svg;
}

const c = curves();
const fmt = (t: Timing): string =>
  `first ${t.firstMs.toFixed(0)} ms | per figure: SVG ${t.svgMs.toFixed(1)} ms wall / ${t.svgCpuMs.toFixed(1)} ms CPU, PNG ${t.pngMs.toFixed(1)} ms wall / ${t.pngCpuMs.toFixed(1)} ms CPU`;
const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;
console.log(`Error-analysis figure (7 areas x 101 points), ${n} figures after the first; load average ${loadavg()[0]!.toFixed(1)}`);

const t0 = performance.now();
const charts = await import('../src/util/charts.js');
const { analysisChartSpec } = await import('../src/eval/analyze-plot.js');
const loadMs = performance.now() - t0;
const ours = await measure(() => charts.chartToSvg(analysisChartSpec(c, defaultRecThrs(), { title: 'overall' })), (svg) => charts.svgToPng(svg));
const vegaSize = installSize(['vega', 'vega-lite']);
console.log(`vega + vega-lite (ours): load ${loadMs.toFixed(0)} ms, ${fmt(ours)}; install ${mb(vegaSize.bytes)} in ${vegaSize.count} packages`);

let echarts: ECharts | undefined;
try {
  const e0 = performance.now();
  const name = 'echarts'; // resolved at run time: absent unless installed by hand
  echarts = (await import(name)) as ECharts;
  const eLoad = performance.now() - e0;
  const theirs = await measure(() => echartsSvg(echarts!, c), (svg) => charts.svgToPng(svg));
  const size = installSize(['echarts']);
  console.log(`echarts SSR (peer):      load ${eLoad.toFixed(0)} ms, ${fmt(theirs)}; install ${mb(size.bytes)} in ${size.count} packages`);
  console.log(`ratio (ours / peer): SVG CPU time ${(ours.svgCpuMs / theirs.svgCpuMs).toFixed(2)}x, load ${(loadMs / eLoad).toFixed(2)}x, install size ${(vegaSize.bytes / size.bytes).toFixed(2)}x`);
} catch {
  if (echarts === undefined) console.log('echarts not installed: `npm i --no-save echarts@6` to measure it beside');
}
