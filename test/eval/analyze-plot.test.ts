// The error-analysis figure and table: the SVG carries one filled series per step in the right drawing order, the
// legend reads "[.ap] step", the PNG decodes at twice the SVG's size.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ANALYSIS_STEPS, analyzeErrors } from '../../src/eval/analyze.js';
import { analysisChartSpec, analysisTable, formatStepAp, stepLabels } from '../../src/eval/analyze-plot.js';
import { defaultRecThrs, resolveParams } from '../../src/eval/cocoeval.js';
import { groundTruthFromJson } from '../../src/eval/coco-json.js';
import { toDetectionSet } from '../../src/eval/results.js';
import { renderChart } from '../../src/util/charts.js';

/** Curves of a made-up category: step s reaches recall 0.5 + 0.05 s at precision 0.3 + 0.1 s; FN is 1. */
function madeUpCurves(): { precision: Float64Array; ap: number[] } {
  const R = 101;
  const precision = new Float64Array(7 * R);
  for (let s = 0; s < 7; s++) {
    for (let r = 0; r < R; r++) precision[s * R + r] = s === 6 ? 1 : r <= 50 + 5 * s ? 0.3 + 0.1 * s : 0;
  }
  const ap = ANALYSIS_STEPS.map((_, s) => precision.subarray(s * R, (s + 1) * R).reduce((a, b) => a + b, 0) / R);
  return { precision, ap };
}

describe('error analysis figure', () => {
  it('formats the legend as the MATLAB figure does', () => {
    expect(formatStepAp(0.51249)).toBe('.512');
    expect(formatStepAp(0.0625)).toBe('.062'); // Python's rounding: ties to even
    expect(formatStepAp(1)).toBe('1.00');
    expect(formatStepAp(0)).toBe('.000');
    expect(stepLabels([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1])).toEqual(['[.100] C75', '[.200] C50', '[.300] Loc', '[.400] Sim', '[.500] Oth', '[.600] BG', '[1.00] FN']);
  });

  it('renders seven filled series (FN behind, C75 in front), a legend with the APs, and a PNG of twice the size', async () => {
    const curves = madeUpCurves();
    const { svg, png } = await renderChart(analysisChartSpec(curves, defaultRecThrs(), { title: 'dog (animal)', subtitle: '3 objects' }), 2);
    const areas = [...svg.matchAll(/<g class="mark-area role-mark[^>]*><path aria-label="[^"]*step: ([^;"]+)/g)].map((m) => m[1]);
    expect(areas).toEqual(stepLabels(curves.ap).reverse());
    expect(svg.match(/class="mark-line role-mark/g)).toHaveLength(7);
    const legend = [...svg.matchAll(/<g class="mark-text role-legend-label[^>]*>.*?<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    // AP of step s: (0.3 + 0.1 s) (51 + 5 s) / 101.
    expect(legend).toEqual(['[.151] C75', '[.222] C50', '[.302] Loc', '[.392] Sim', '[.492] Oth', '[.602] BG', '[1.00] FN']);
    expect(svg).toContain('dog (animal)');
    const width = Number(/<svg[^>]* width="(\d+)"/.exec(svg)![1]);
    const height = Number(/<svg[^>]* height="(\d+)"/.exec(svg)![1]);
    expect(width).toBeGreaterThan(420); // the 420 px plot plus axes
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 2 * width, 2 * height]);
    // Not blank: the C75 fill colour is present in the pixels.
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    let c75 = 0;
    for (let i = 0; i < data.length; i += info.channels) if (data[i] === 0x1f && data[i + 1] === 0x4e && data[i + 2] === 0x79) c75++;
    expect(c75).toBeGreaterThan(0.05 * info.width * info.height);
  });

  it('tabulates overall, super-category and category APs', () => {
    const gt = groundTruthFromJson(
      {
        images: [{ id: 1 }, { id: 2 }],
        categories: [
          { id: 1, name: 'cat', supercategory: 'animal' },
          { id: 2, name: 'dog', supercategory: 'animal' },
        ],
        annotations: [
          { id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400 },
          { id: 2, image_id: 2, category_id: 2, bbox: [10, 10, 20, 20], area: 400 },
        ],
      },
      'gt.json',
    );
    const dt = toDetectionSet([
      { image_id: 1, category_id: 2, bbox: [10, 10, 20, 20], score: 0.9 },
      { image_id: 2, category_id: 2, bbox: [10, 10, 20, 20], score: 0.5 },
    ]);
    const analysis = analyzeErrors(gt, dt, { params: resolveParams(gt), superCategories: gt.superCategories });
    expect(analysisTable(analysis, gt.categoryNames).split('\n')).toEqual([
      'id  category                GT    C75    C50    Loc    Sim    Oth     BG     FN',
      '--  ----------------------  --  -----  -----  -----  -----  -----  -----  -----',
      '    overall (2 categories)      0.250  0.250  0.250  0.500  0.500  0.500  1.000',
      '    animal (2)                  0.250  0.250  0.250  0.500  0.500  0.500  1.000',
      ' 1  cat (animal)             1  0.000  0.000  0.000  0.000  0.000  0.000  1.000',
      ' 2  dog (animal)             1  0.500  0.500  0.500  1.000  1.000  1.000  1.000',
    ]);
  });
});
