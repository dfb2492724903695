// Parity with pycocotools 2.0.11: every case in ../shared/fixtures/cocoeval/cases.json (real COCO ground truth,
// pycocotools' own numbers) must give all 12 stats and every per-category AP
// bit for bit: the same float64 (Object.is), no tolerance. The evaluator is plain float64 JavaScript arithmetic and the
// fixture numbers are stored as exact JSON doubles, so this holds on any machine.
import { describe, expect, it } from 'vitest';
import { cocoEvaluate } from '../../src/eval/cocoeval.js';
import { readDetections, readGroundTruth } from '../../src/eval/coco-json.js';
import { cocoevalCases, cocoevalFixturesSkip } from '../helpers.js';

const cases = cocoevalCases();
const SKIP = cocoevalFixturesSkip();

describe.skipIf(SKIP !== '')(`pycocotools parity ${SKIP}`, () => {
  it('has the fixture cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
  });

  for (const { gtPath, dtPath, ...c } of cases) {
    // a case whose files are missing fails (reading them throws): the fixture set is broken, not absent
    it(`${c.name}: 12 stats and per-category AP bit for bit`, () => {
      const gt = readGroundTruth(gtPath);
      const dt = readDetections(dtPath, gt);
      const result = cocoEvaluate(gt, dt, { useCats: c.params.useCats === 1 });
      expect(result.stats).toHaveLength(12);
      result.stats.forEach((s, i) => expect(s, `stat ${i}`).toBe(c.stats[i]!));
      const ids = result.perCategory.map((r) => String(r.categoryId)).sort();
      expect(ids).toEqual(Object.keys(c.perCategoryAP).sort());
      for (const r of result.perCategory) {
        const want = c.perCategoryAP[String(r.categoryId)]!;
        expect(r.ap, `category ${r.categoryId}`).toBe(want);
      }
    });
  }
});
