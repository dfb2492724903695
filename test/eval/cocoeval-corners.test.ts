// Parity with pycocotools 2.0.11 in the corners: undeclared categories and images (ignored), categories listed twice
// or unsorted without useCats (kept as given), string ids (evaluated), ids beyond 2^53 (refused by psdet, merged by
// pycocotools). Expected numbers: test/fixtures/cocoeval-corners.json, written by tools/gen_cocoeval_corners.py
// with the real pycocotools; stats and per-category AP must be the same doubles (the fixture stores them exactly).
// Files are read with small chunks too, so every token of them is split somewhere.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cocoEvaluate, type EvalParams } from '../../src/eval/cocoeval.js';
import { readDetections, readGroundTruth, type IdSpace } from '../../src/eval/coco-json.js';
import { InputError } from '../../src/util/errors.js';
import { ROOT } from '../helpers.js';

interface CornerCase {
  name: string;
  params: { useCats?: number; catIds?: (number | string)[]; imgIds?: (number | string)[] };
  gt: string;
  dt: string;
  stats?: number[];
  perCategoryAP?: Record<string, number>;
  ignored?: { detections?: number; gtImage?: number; gtCategory?: number };
  psdet_error?: string;
}

const fixture = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'cocoeval-corners.json'), 'utf8')) as { cases: CornerCase[] };
const dir = mkdtempSync(join(tmpdir(), 'psdet-corners-'));

function evaluatorId(raw: number | string, space: IdSpace): number {
  if (typeof raw === 'number') return raw;
  const r = space.strings.indexOf(raw);
  if (r < 0) throw new Error(`fixture id ${raw} not in the GT`);
  return r;
}

describe('pycocotools corners (test/fixtures/cocoeval-corners.json)', () => {
  it('has the cases', () => {
    expect(fixture.cases.length).toBeGreaterThanOrEqual(13);
  });

  for (const c of fixture.cases) {
    for (const chunkBytes of [undefined, 7]) {
      it(`${c.name}${chunkBytes === undefined ? '' : ` (read in ${chunkBytes}-byte chunks)`}`, () => {
        const gtPath = join(dir, `${c.name}.gt.json`);
        const dtPath = join(dir, `${c.name}.dt.json`);
        writeFileSync(gtPath, c.gt);
        writeFileSync(dtPath, c.dt);
        if (c.psdet_error !== undefined) {
          expect(() => readGroundTruth(gtPath, { chunkBytes })).toThrow(InputError);
          expect(() => readGroundTruth(gtPath, { chunkBytes })).toThrow(`${gtPath}: ${c.psdet_error}`);
          return;
        }
        const gt = readGroundTruth(gtPath, { chunkBytes });
        const dt = readDetections(dtPath, gt, { chunkBytes });
        expect(dt.ignoredUndeclaredCategory.count).toBe(c.ignored?.detections ?? 0);
        expect(gt.ignored.undeclaredImage.count).toBe(c.ignored?.gtImage ?? 0);
        expect(gt.ignored.undeclaredCategory.count).toBe(c.ignored?.gtCategory ?? 0);
        const overrides: Partial<EvalParams> = {};
        if (c.params.useCats !== undefined) overrides.useCats = c.params.useCats === 1;
        if (c.params.catIds !== undefined) overrides.catIds = c.params.catIds.map((id) => evaluatorId(id, gt.categoryIdSpace));
        if (c.params.imgIds !== undefined) overrides.imgIds = c.params.imgIds.map((id) => evaluatorId(id, gt.imageIdSpace));
        const result = cocoEvaluate(gt, dt, overrides);
        result.stats.forEach((s, i) => expect(s, `stat ${i}`).toBe(c.stats![i]!));
        if (overrides.useCats !== false) {
          const got = Object.fromEntries(result.perCategory.map((r) => [gt.categoryIdSpace.kind === 'string' ? gt.categoryIdSpace.strings[r.categoryId]! : String(r.categoryId), r.ap]));
          expect(Object.keys(got).sort()).toEqual(Object.keys(c.perCategoryAP!).sort());
          for (const [id, ap] of Object.entries(c.perCategoryAP!)) expect(got[id], `category ${id}`).toBe(ap);
        }
      });
    }
  }

  it('with --strict semantics refuses what pycocotools ignores, naming file, index and field', () => {
    const undeclared = fixture.cases.find((c) => c.name === 'undeclared-detection-categories')!;
    const gtPath = join(dir, 'strict.gt.json');
    const dtPath = join(dir, 'strict.dt.json');
    writeFileSync(gtPath, undeclared.gt);
    writeFileSync(dtPath, undeclared.dt);
    const gt = readGroundTruth(gtPath, { strict: true });
    expect(() => readDetections(dtPath, gt, { strict: true })).toThrow(new RegExp(`^${dtPath}: index 1: field "category_id": unknown category id (4|90) \\(not in the ground truth\\)$`));
    const gtCase = fixture.cases.find((c) => c.name === 'undeclared-gt-image-and-category')!;
    writeFileSync(gtPath, gtCase.gt);
    expect(() => readGroundTruth(gtPath, { strict: true })).toThrow(/index \d+: field "annotations.image_id": unknown image id 77 \(not in "images"\)$/);
  });
});
