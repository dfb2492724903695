// COCO results JSON: xyxy -> xywh at the edge, the writer's output parses back to the same detections.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectionsFromJson, groundTruthFromJson } from '../../src/eval/coco-json.js';
import { detectionsForImage, formatResultsJson, toDetectionSet, writeResultsJson, xyxyToXywh } from '../../src/eval/results.js';

describe('results JSON', () => {
  it('converts xyxy boxes to COCO xywh', () => {
    // [10, 20, 40, 60] -> x 10, y 20, w 40 - 10 = 30, h 60 - 20 = 40.
    expect(xyxyToXywh([10, 20, 40, 60])).toEqual([10, 20, 30, 40]);
    const dets = detectionsForImage(139, [10, 20, 40, 60, 0, 0, 5.5, 2.25], [0.9, 0.25], [1, 18]);
    expect(dets).toEqual([
      { image_id: 139, category_id: 1, bbox: [10, 20, 30, 40], score: 0.9 },
      { image_id: 139, category_id: 18, bbox: [0, 0, 5.5, 2.25], score: 0.25 },
    ]);
  });

  it('writes a file that reads back to the same detections, in order', () => {
    const dets = detectionsForImage(139, [10, 20, 40, 60, 0, 0, 5.5, 2.25], [0.9, 0.123456789], [1, 18]);
    const path = join(mkdtempSync(join(tmpdir(), 'psdet-results-')), 'results.json');
    writeResultsJson(path, dets);
    const text = readFileSync(path, 'utf8');
    expect(text).toBe(formatResultsJson(dets));
    expect(text.split('\n')).toHaveLength(5); // "[", two detections, "]", trailing newline
    const gt = groundTruthFromJson({ images: [{ id: 139 }], categories: [{ id: 1 }, { id: 18 }], annotations: [] }, 'gt.json');
    const read = detectionsFromJson(JSON.parse(text), path, gt);
    const direct = toDetectionSet(dets);
    expect(Array.from(read.bbox)).toEqual(Array.from(direct.bbox));
    expect(Array.from(read.score)).toEqual([0.9, 0.123456789]);
    expect(Array.from(read.categoryId)).toEqual([1, 18]);
    expect(formatResultsJson([])).toBe('[]\n');
  });
});
