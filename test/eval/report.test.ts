// Report formatting: pycocotools' summary lines character for character, Python's rounding, the table, the JSON.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cocoEvaluate, defaultParams } from '../../src/eval/cocoeval.js';
import { readDetections, readGroundTruth } from '../../src/eval/coco-json.js';
import { evalReport, formatFixed, formatReportJson, perCategoryTable, summaryLines } from '../../src/eval/report.js';
import { COCOEVAL_FIXTURES, cocoevalFixturesSkip } from '../helpers.js';

describe('formatFixed', () => {
  it("rounds like Python's '{:0.3f}', ties to even on the exact binary value", () => {
    // 0.0625 and 0.3125 are exact binary ties: Python gives 0.062 / 0.312 (JS toFixed: 0.063 / 0.313).
    expect(formatFixed(0.0625, 3)).toBe('0.062');
    expect(formatFixed(0.3125, 3)).toBe('0.312');
    expect(formatFixed(0.1875, 3)).toBe('0.188');
    expect(formatFixed(-0.0625, 3)).toBe('-0.062');
    expect(formatFixed(0.125, 2)).toBe('0.12');
    // 0.95 is 0.94999999999999995559... -> '0.95'; 0.0005 is 0.000500000000000000010408... -> '0.001'.
    expect(formatFixed(0.95, 2)).toBe('0.95');
    expect(formatFixed(0.0005, 3)).toBe('0.001');
    expect(formatFixed(-1, 3)).toBe('-1.000');
    expect(formatFixed(0.5045806987249628, 3)).toBe('0.505');
  });
});

describe('summaryLines', () => {
  it("prints pycocotools 2.0.x's format: ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'", () => {
    const gt = { imageIds: [1], categoryIds: [1], annotations: { id: new Float64Array(), imageId: new Float64Array(), categoryId: new Float64Array(), bbox: new Float64Array(), area: new Float64Array(), iscrowd: new Uint8Array() } };
    const lines = summaryLines(defaultParams(gt), [0.5045806987249628, 0.697, 0.573, 0.586, 0.519, 0.501, 0.387, 0.594, 0.595, 0.64, 0.566, -1]);
    expect(lines[0]).toBe(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505');
    expect(lines[1]).toBe(' Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.697');
    expect(lines[4]).toBe(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.519');
    expect(lines[6]).toBe(' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.387');
    expect(lines[11]).toBe(' Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000');
  });

  const dir = join(COCOEVAL_FIXTURES, 'val2014-fakebbox100');
  const skip = cocoevalFixturesSkip();
  it.skipIf(skip !== '')(`matches the numbers of pycocotools' recorded printout for the val2014 fake results ${skip}`, () => {
    const gt = readGroundTruth(join(dir, 'gt.json'));
    const result = cocoEvaluate(gt, readDetections(join(dir, 'dt.json'), gt));
    // The recorded printout comes from an older pycocotools whose title column was one space narrower; the
    // numbers and every other column agree. Compare with runs of spaces collapsed.
    const printout = readFileSync(join(dir, 'pycocotools-printout.txt'), 'utf8');
    const bboxSection = printout.slice(printout.indexOf('type=bbox'), printout.indexOf('type=keypoints'));
    const recorded = bboxSection.split('\n').filter((l) => l.includes('Average'));
    const squash = (s: string): string => s.replace(/ +/g, ' ');
    expect(summaryLines(result.params, result.stats).map(squash)).toEqual(recorded.map(squash));
  });
});

describe('per-category table and JSON report', () => {
  const gt = {
    imageIds: [1],
    categoryIds: [1, 2],
    annotations: { id: new Float64Array([1]), imageId: new Float64Array([1]), categoryId: new Float64Array([1]), bbox: new Float64Array([0, 0, 10, 10]), area: new Float64Array([100]), iscrowd: new Uint8Array([0]) },
  };
  const dt = { imageId: new Float64Array([1]), categoryId: new Float64Array([1]), bbox: new Float64Array([0, 0, 10, 5]), score: new Float64Array([0.9]) };
  // IoU 50 / 100 = 0.5: a TP only at t = 0.5 -> AP = 0.1 (to 1e-15), AP50 = 1, AP75 = 0, AR = 0.1.
  const result = cocoEvaluate(gt, dt);
  const names = new Map([
    [1, 'person'],
    [2, 'bicycle'],
  ]);

  it('lists every category with its name; - marks no ground truth', () => {
    const table = perCategoryTable(result.perCategory, names).split('\n');
    expect(table[0]).toMatch(/^id +category +AP +AP50 +AP75 +APs +APm +APl +AR$/);
    expect(table[2]!.trim().split(/ +/)).toEqual(['1', 'person', '0.100', '1.000', '0.000', '0.100', '-', '-', '0.100']);
    expect(table[3]!.trim().split(/ +/)).toEqual(['2', 'bicycle', '-', '-', '-', '-', '-', '-', '-']);
  });

  it('reports stats by name, the summary lines and per-category results as JSON', () => {
    const report = JSON.parse(formatReportJson(evalReport(result, names))) as ReturnType<typeof evalReport>;
    expect(Object.keys(report.stats)).toEqual(['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR@1', 'AR@10', 'AR@100', 'ARs', 'ARm', 'ARl']);
    expect(report.stats.AP50).toBeCloseTo(1, 12);
    expect(report.statsArray).toEqual(result.stats);
    expect(report.summary).toHaveLength(12);
    expect(report.params.numImages).toBe(1);
    expect(report.perCategory[1]).toMatchObject({ categoryId: 2, name: 'bicycle', ap: -1 });
  });
});
