import { existsSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { collapseCurves, curveSpec, runCurves, smooth, writeCurves, type CurveSet } from '../../src/report/curves.js';
import { readRunRecords } from '../../src/report/records.js';
import { chartToSvg } from '../../src/util/charts.js';
import { fakeRunDir, trainRecord } from './fixtures.js';

const byFile = (sets: CurveSet[], file: string): CurveSet => sets.find((s) => s.file === file)!;
const series = (set: CurveSet, name: string, variant = 'plain'): Array<[number, number]> =>
  set.series.find((s) => s.name === name && s.variant === variant)!.points;

describe('smooth', () => {
  it('is a debiased EMA: the first value is kept, then w s + (1 - w) x over 1 - w^t', () => {
    // w = 0.6: s1 = 0.4 * 1 = 0.4 -> 0.4 / 0.4 = 1; s2 = 0.6 * 0.4 + 0.4 * 2 = 1.04 -> 1.04 / 0.64 = 1.625.
    const [a, b] = smooth([1, 2]);
    expect(a).toBeCloseTo(1, 12);
    expect(b).toBeCloseTo(1.625, 12);
    expect(smooth([3, 3, 3]).map((v) => v.toFixed(9))).toEqual(['3.000000000', '3.000000000', '3.000000000']);
  });
});

describe('runCurves', () => {
  const records = readRunRecords(fakeRunDir());
  const sets = runCurves(records);

  it('has a loss curve per term, raw and smoothed, one point per logged iteration', () => {
    const loss = byFile(sets, 'loss');
    expect(loss.series.map((s) => `${s.name}/${s.variant}`)).toEqual([
      'loss_box/raw', 'loss_box/smoothed', 'loss_cls/raw', 'loss_cls/smoothed', 'loss/raw', 'loss/smoothed',
    ]);
    expect(series(loss, 'loss_cls', 'raw')).toEqual([[20, 1.2], [40, 1.0], [50, 0.9], [80, 0.8], [100, 0.7]]);
    expect(series(loss, 'loss', 'smoothed')).toHaveLength(5);
    expect(series(loss, 'loss', 'smoothed')[0]![1]).toBeCloseTo(2.0, 12);
  });

  it('has lr, grad norm and the four times over the same iterations', () => {
    expect(series(byFile(sets, 'lr'), 'lr').map(([it]) => it)).toEqual([20, 40, 50, 80, 100]);
    expect(series(byFile(sets, 'lr'), 'lr')[0]![1]).toBeCloseTo(0.0005, 12);
    expect(series(byFile(sets, 'grad_norm'), 'grad_norm')).toHaveLength(5);
    expect(byFile(sets, 'time').series.map((s) => s.name)).toEqual(['time', 'data_time', 'forward_backward', 'optimizer']);
  });

  it('has AP / AP50 / AP75 and per-size AP at each evaluation, leaving -1 (no ground truth) out', () => {
    expect(series(byFile(sets, 'ap'), 'AP50')).toEqual([[50, 0.2], [100, 0.4]]);
    expect(series(byFile(sets, 'ap_size'), 'APs')).toEqual([]);
    expect(series(byFile(sets, 'ap_size'), 'APl')).toEqual([[50, 0.12], [100, 0.25]]);
  });

  it('has a collapse panel per stage and site kind: norm-fed and norm-free apart', () => {
    const points = collapseCurves(records.collapse)[0]!.panels!.points;
    // res2 norm-fed: 2/16 then 4/16; res2 norm-free: 0/8 twice; fpn has no norm-fed site: norm-free 4/32 twice.
    expect(points.filter((p) => p.column === 'res2' && p.row === 'norm-fed sites').map((p) => [p.iteration, p.value])).toEqual([[50, 0.125], [100, 0.25]]);
    expect(points.filter((p) => p.column === 'res2' && p.row === 'norm-free sites').map((p) => p.value)).toEqual([0, 0]);
    expect(points.filter((p) => p.column === 'fpn').map((p) => p.row)).toEqual(['norm-free sites', 'norm-free sites']);
  });

  it('keeps only the latest attempt when a restarted run went back in iterations', () => {
    const dir = fakeRunDir();
    appendFileSync(join(dir, 'metrics.jsonl'), `${JSON.stringify(trainRecord(60, 5, 5))}\n`);
    const loss = byFile(runCurves(readRunRecords(dir)), 'loss');
    expect(series(loss, 'loss_cls', 'raw')).toEqual([[20, 1.2], [40, 1.0], [50, 0.9], [60, 5]]);
  });

  it('has AP per class over evaluations, the 10 best at the last one when there are more', () => {
    const dir = fakeRunDir();
    // 12 classes c0..c11 with AP k / 100 at the last evaluation; c11 has no ground truth at the first (-1)
    const ap = (shift: number): Record<string, number> => Object.fromEntries(Array.from({ length: 12 }, (_, k) => [`c${k}`, k === 11 && shift === 0 ? -1 : (k + shift) / 100]));
    writeFileSync(join(dir, 'per_class.jsonl'), `${JSON.stringify({ iteration: 50, ap: ap(0) })}\n${JSON.stringify({ iteration: 100, ap: ap(1) })}\n`);
    const set = byFile(runCurves(readRunRecords(dir)), 'ap_per_class');
    expect(set.title).toBe('AP per class (the 10 best of 12)');
    expect(set.series.map((s) => s.name)).toEqual(['c11', 'c10', 'c9', 'c8', 'c7', 'c6', 'c5', 'c4', 'c3', 'c2']);
    expect(set.series[0]!.points).toEqual([[100, 0.12]]);
    expect(set.series[1]!.points).toEqual([[50, 0.1], [100, 0.11]]);
  });

  it('draws a single measurement as a visible point', async () => {
    const svg = await chartToSvg(curveSpec({ file: 'x', title: 'one', yTitle: 'y', scale: 'linear', series: [{ name: 'a', variant: 'plain', points: [[10, 1]] }] }));
    // vega draws the point layer as a path with a fill; one datum -> one symbol mark
    expect(svg).toMatch(/class="mark-symbol[^"]*"[^>]*><path/);
  });
});

describe('writeCurves', () => {
  it('writes an SVG and a PNG per curve and curves.json with the series', async () => {
    const dir = fakeRunDir();
    const rendered = await writeCurves(join(dir, 'curves'), readRunRecords(dir));
    expect(rendered.map((r) => r.file)).toEqual(['loss', 'lr', 'grad_norm', 'time', 'ap', 'ap_size', 'collapse']);
    const saved = JSON.parse(readFileSync(join(dir, 'curves', 'curves.json'), 'utf8')) as CurveSet[];
    expect(series(byFile(saved, 'ap'), 'AP')).toEqual([[50, 0.1], [100, 0.2]]);
    for (const { file } of rendered) {
      const svg = readFileSync(join(dir, 'curves', `${file}.svg`), 'utf8');
      const [, w, h] = /<svg[^>]*width="(\d+)" height="(\d+)"/.exec(svg)!;
      expect(Number(w)).toBeGreaterThan(300);
      expect(Number(h)).toBeGreaterThan(150);
      const png = await sharp(join(dir, 'curves', `${file}.png`)).metadata();
      // PNG at 2 x the SVG size
      expect(png.width).toBe(2 * Number(w));
    }
  });

  it('writes nothing for a run with no record yet', async () => {
    const dir = fakeRunDir();
    writeFileSync(join(dir, 'metrics.jsonl'), '');
    writeFileSync(join(dir, 'collapse.jsonl'), '');
    expect(await writeCurves(join(dir, 'curves'), readRunRecords(dir))).toEqual([]);
    expect(existsSync(join(dir, 'curves', 'loss.svg'))).toBe(false);
  });
});
