import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { barChartSvg, escapeXml, formatNumber, lineChartSvg, niceTicks, percentFormat, svgToPng } from '../../src/analysis/plots.js';

describe('niceTicks', () => {
  it('steps by 1, 2 or 5 x 10^k and covers the range', () => {
    // (0.27 - 0) / 5 = 0.054 = 5.4 x 10^-2; 5.4 > 5, so the step is 10 x 10^-2 = 0.1.
    expect(niceTicks(0, 0.27, 5)).toMatchObject({ step: 0.1, ticks: [0, 0.1, 0.2, 0.3], lo: 0, hi: 0.3 });
    // 400 / 6 = 66.7 -> 6.67 x 10 -> 10 x 10 = 100.
    expect(niceTicks(0, 400, 6).ticks).toEqual([0, 100, 200, 300, 400]);
    // 0.9 / 5 = 0.18 -> 1.8 x 0.1 -> 2 x 0.1 = 0.2; lo floor(0.1 / 0.2) = 0, hi ceil(1 / 0.2) x 0.2 = 1.
    expect(niceTicks(0.1, 1, 5)).toMatchObject({ step: 0.2, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1] });
    // A single value gets widened: 5 +- 0.5 -> step 0.2 over [4.4, 5.6].
    expect(niceTicks(5, 5, 5).ticks).toEqual([4.4, 4.6, 4.8, 5, 5.2, 5.4, 5.6]);
  });

  it('formats ticks with the decimals the step needs', () => {
    expect(formatNumber(0.30000000000000004, 0.1)).toBe('0.3');
    expect(formatNumber(1500, 500)).toBe('1500');
    expect(formatNumber(-0.0001, 0.01)).toBe('0.00');
    expect(percentFormat(0.25, 0.05)).toBe('25%');
    expect(percentFormat(0.125, 0.025)).toBe('12.5%');
  });
});

describe('lineChartSvg', () => {
  const svg = lineChartSvg({
    title: 'Dead <channels> & more',
    x: { label: 'iteration', min: 0, max: 10 },
    y: { label: 'dead channels (% of stage)', min: 0, max: 1, format: percentFormat },
    series: [{ name: 'a', points: [[0, 0], [10, 1]] }],
  });

  it('maps data to the plot frame', () => {
    // Frame 760 x 440: left 74, bottom 440 - 56 = 384, top 48; legend for "a": 1 x 12 x 0.6 + 44 = 51.2 px,
    // so right = 760 - 20 - 51.2 = 688.8. (0, 0) -> (74, 384); (10, 1) -> (688.8, 48).
    expect(svg).toContain('<path d="M74.0,384.0 L688.8,48.0"');
  });

  it('has a title, axis titles, ticks with units and a legend, with text escaped', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="760" height="440"')).toBe(true);
    expect(svg).toContain('>Dead &lt;channels&gt; &amp; more</text>');
    expect(svg).toContain('>iteration</text>');
    expect(svg).toContain('>dead channels (% of stage)</text>');
    // y ticks: 1 / 5 = 0.2 -> 0%, 20%, ..., 100%.
    for (const tick of ['0%', '20%', '40%', '60%', '80%', '100%']) expect(svg).toContain(`>${tick}</text>`);
    expect(svg).toContain('>a</text>');
    expect(escapeXml('"x"')).toBe('&quot;x&quot;');
  });

  it('breaks the line at a missing value and says so when there is no data', () => {
    const broken = lineChartSvg({ title: 't', x: { label: 'x' }, y: { label: 'y' }, series: [{ name: 's', points: [[0, 1], [1, null], [2, 1], [3, 2]] }] });
    const d = /<path d="([^"]+)"/.exec(broken)![1]!;
    expect(d.match(/M/g)).toHaveLength(2);
    expect(lineChartSvg({ title: 't', x: { label: 'x' }, y: { label: 'y' }, series: [] })).toContain('>no data</text>');
  });
});

describe('barChartSvg', () => {
  it('draws one bar per non-null value, grouped by category', () => {
    const svg = barChartSvg({
      title: 'dead at the end',
      xLabel: 'stage',
      y: { label: 'dead channels (% of stage)', min: 0, format: percentFormat },
      categories: ['stem', 'res2', 'res3'],
      groups: [{ name: 'bn', values: [0.1, 0.2, 0.3] }, { name: 'psbn', values: [0.05, null, 0.1] }],
    });
    // y step 0.1 (0.3 / 5 = 0.06 -> 0.1); tooltips use step / 100 -> one decimal of a percent.
    // 3 + 2 bars (one null skipped) plus the background rect and two legend boxes.
    expect(svg.match(/<rect /g)).toHaveLength(1 + 5 + 2);
    expect(svg).toContain('<title>psbn res3: 10.0%</title>');
  });
});

describe('svgToPng', () => {
  it('renders the chart at twice its size with visible marks', async () => {
    const svg = lineChartSvg({ title: 'Dead channels', x: { label: 'iteration' }, y: { label: 'ratio' }, series: [{ name: 'res2', points: [[0, 0.1], [100, 0.3]] }] });
    const png = await svgToPng(svg);
    const meta = await sharp(png).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 1520, height: 880 });
    // A white background with dark text and a blue (#1f77b4) line: the red channel's minimum is near 0.
    const stats = await sharp(png).stats();
    expect(stats.channels[0]!.min).toBeLessThan(60);
    expect(stats.channels[0]!.max).toBe(255);
    // The blue line itself: some pixels have blue well above red.
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    let blue = 0;
    for (let i = 0; i < info.width * info.height * 3; i += 3) if (data[i + 2]! > 150 && data[i]! < 80) blue++;
    expect(blue).toBeGreaterThan(500);
  });
});
