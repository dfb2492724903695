// The chart wrapper: a Vega-Lite spec becomes an SVG document and a PNG; a spec Vega-Lite warns about is an error.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { chartToSvg, renderChart, svgToPng } from '../../src/util/charts.js';

describe('charts', () => {
  it('renders a bar chart to SVG with one bar per value, and to PNG at the requested scale', async () => {
    const { svg, png } = await renderChart(
      {
        width: 200,
        height: 100,
        data: { values: [{ k: 'a', v: 1 }, { k: 'b', v: 3 }, { k: 'c', v: 2 }] },
        mark: 'bar',
        encoding: { x: { field: 'k', type: 'nominal' }, y: { field: 'v', type: 'quantitative' } },
      },
      1,
    );
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/aria-roledescription="bar"/g)).toHaveLength(3);
    const width = Number(/<svg[^>]* width="(\d+)"/.exec(svg)![1]);
    expect((await sharp(png).metadata()).width).toBe(width);
    expect((await sharp(await svgToPng(svg, 3)).metadata()).width).toBe(3 * width);
  });

  it('refuses a spec Vega-Lite warns about instead of drawing something else', async () => {
    await expect(
      chartToSvg({ data: { values: [{ v: 1 }] }, mark: 'bar', encoding: { x: { field: 'v', type: 'quantitative', aggregate: 'no-such-op' as 'sum' } } }),
    ).rejects.toThrow(/chart spec: .*/);
  });
});
