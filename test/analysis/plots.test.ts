import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { markerSizes, ratioBarsSpec, ratioLinesSpec, writeChart } from '../../src/analysis/plots.js';
import { chartToSvg } from '../../src/util/charts.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The marks of one layer of a rendered chart: each symbol / rect with its aria label, position and path. */
function marks(svg: string, layer: string): Array<{ label: string; x: number; y: number; d: string }> {
  const group = new RegExp(`<g class="mark-(symbol|rect) role-mark ${layer}_marks"[^>]*>(.*?)</g>`, 's').exec(svg);
  if (group === null) return [];
  return [...group[2]!.matchAll(/<path aria-label="([^"]*)"[^>]*?transform="translate\(([-\d.]+),([-\d.]+)\)" d="([^"]*)"/g)].map((m) => ({
    label: m[1]!,
    x: Number(m[2]),
    y: Number(m[3]),
    d: m[4]!,
  }));
}

const stageLines = ratioLinesSpec({
  title: 'Dead <channels> per stage',
  yTitle: 'dead channels (% of stage)',
  width: 500,
  height: 200,
  series: [
    { name: 'stem', points: [[0, 0], [50, 0], [100, 0]] },
    { name: 'res2', points: [[0, 0], [50, 0], [100, 0]] },
    { name: 'res3', points: [[0, 0], [50, null], [100, 0.05]] },
    { name: 'fpn', points: [[100, 0.02]] },
  ],
});

describe('ratioLinesSpec', () => {
  it('draws a marker on every measurement, the iteration-0 ones and a one-measurement series included', async () => {
    const svg = await chartToSvg(stageLines);
    const points = marks(svg, 'layer_1');
    // 3 + 3 + 2 (one null left out) + 1 measurements.
    expect(points).toHaveLength(9);
    expect(points.filter((p) => p.label.startsWith('iteration: 0;'))).toHaveLength(3);
    const fpn = points.filter((p) => p.label.includes('series: fpn'));
    expect(fpn).toHaveLength(1);
    // Plot area 500 x 200, y over 0..10 % (all values <= 5 %): 2 % sits at 200 - 0.2 x 200 = 160, iteration 100 at x 500.
    expect(fpn[0]!.x).toBeCloseTo(500, 6);
    expect(fpn[0]!.y).toBeCloseTo(160, 6);
    // One line per series (the lone fpn point's line is a path of one point; its marker is what shows).
    expect(svg.match(/class="mark-line role-mark layer_0_marks"/g)).toHaveLength(4);
    for (const name of ['stem', 'res2', 'res3', 'fpn']) expect(svg).toContain(`>${name}</text>`);
    expect(svg).toContain('>10%</text>');
    expect(svg).toContain('Dead &lt;channels&gt; per stage');
  });

  it('keeps series that coincide apart: a marker shape and size of their own at the same spot', async () => {
    const points = marks(await chartToSvg(stageLines), 'layer_1');
    const atOrigin = points.filter((p) => p.label.startsWith('iteration: 0;'));
    // stem, res2 and res3 at (0, 0 %): the same place, three different paths (circle, square, triangle).
    expect(new Set(atOrigin.map((p) => `${p.x},${p.y}`)).size).toBe(1);
    expect(new Set(atOrigin.map((p) => p.d)).size).toBe(3);
    // The circle of stem is the widest: Vega's symbol size is width², 4 series -> widths 15, 12, 9, 6 px.
    expect(markerSizes(4)).toEqual([225, 144, 81, 36]);
    expect(atOrigin.find((p) => p.label.includes('series: stem'))!.d).toMatch(/^M7\.5,0A7\.5,7\.5/);
  });

  it('draws a dash pattern per group with its legend, and an empty chart without failing', async () => {
    const svg = await chartToSvg(
      ratioLinesSpec({
        title: 'total',
        yTitle: 'dead',
        groupTitle: 'norm',
        series: [
          { name: 'bn_sgd', group: 'bn', points: [[0, 0.1], [10, 0.4]] },
          { name: 'psbn_sgd', group: 'psbn', points: [[0, 0.1], [10, 0.2]] },
        ],
      }),
    );
    expect(svg).toContain('>norm</text>');
    expect(svg).toMatch(/stroke-dasharray/);
    // y grows past 10 % to the data: 40 % is on the axis.
    expect(svg).toContain('>40%</text>');
    const empty = await chartToSvg(ratioLinesSpec({ title: 'nothing yet', yTitle: 'dead', series: [] }));
    expect(marks(empty, 'layer_1')).toHaveLength(0);
  });
});

describe('ratioBarsSpec', () => {
  it('draws a bar and a marker per value, so a bar of 0 still shows', async () => {
    const svg = await chartToSvg(
      ratioBarsSpec({
        title: 'revived',
        xTitle: 'stage',
        yTitle: 'revived (% of channels dead at start)',
        yMax: 1,
        height: 200,
        categories: ['res2', 'res3', 'total'],
        groups: [
          { name: 'psbn', values: [0.8, 1, 0.9] },
          { name: 'bn', values: [0, null, 0] },
        ],
      }),
    );
    const bars = /<g class="mark-rect role-mark layer_0_marks"[^>]*>(.*?)<\/g>/s.exec(svg)![1]!.match(/<path /g);
    expect(bars).toHaveLength(5);
    const points = marks(svg, 'layer_1');
    expect(points).toHaveLength(5);
    // y domain fixed to 0..100 %: 80 % at 200 - 0.8 x 200 = 40, the zeros of bn on the axis at 200.
    expect(points.find((p) => p.label.includes('res2') && p.label.includes('psbn'))!.y).toBeCloseTo(40, 6);
    const bnZeros = points.filter((p) => p.label.includes('bn') && !p.label.includes('psbn'));
    expect(bnZeros).toHaveLength(2);
    for (const p of bnZeros) expect(p.y).toBeCloseTo(200, 6);
    expect(svg).toContain('>100%</text>');
  });
});

describe('writeChart', () => {
  it('writes the SVG and a PNG at twice its size', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'psdet-plots-'));
    dirs.push(dir);
    const paths = await writeChart(stageLines, join(dir, 'sub', 'stages'));
    expect(paths).toEqual({ svg: join(dir, 'sub', 'stages.svg'), png: join(dir, 'sub', 'stages.png') });
    const svg = readFileSync(paths.svg, 'utf8');
    const [, width, height] = /<svg[^>]* width="(\d+)" height="(\d+)"/.exec(svg)!.map(Number);
    // Plot area 500 x 200 plus axes, title and legend.
    expect(width).toBeGreaterThan(500);
    expect(height).toBeGreaterThan(200);
    const meta = await sharp(paths.png).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 2 * width!, height: 2 * height! });
    // The orange res2 markers (#ff7f0e) are in the picture: pixels with red high and blue low.
    const { data, info } = await sharp(paths.png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    let orange = 0;
    for (let i = 0; i < info.width * info.height * 3; i += 3) if (data[i]! > 200 && data[i + 2]! < 80) orange++;
    expect(orange).toBeGreaterThan(50);
  });
});
