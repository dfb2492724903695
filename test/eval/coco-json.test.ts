// Reading COCO ground truth and results JSON: every bad input is a one-line InputError naming file, index, field.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectionsFromJson, groundTruthFromJson, readDetections, readGroundTruth } from '../../src/eval/coco-json.js';
import { InputError } from '../../src/util/errors.js';

const GT = {
  images: [{ id: 1 }, { id: 2 }],
  categories: [{ id: 3, name: 'car' }],
  annotations: [
    { id: 10, image_id: 1, category_id: 3, bbox: [1, 2, 3, 4], area: 12, iscrowd: 0 },
    { id: 11, image_id: 2, category_id: 3, bbox: [0, 0, 5, 5], area: 25, iscrowd: 1 },
  ],
};

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'psdet-eval-')), name);
  writeFileSync(path, text);
  return path;
}

/** Runs `fn`, expects an InputError, returns its message (and checks it is one line). */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    const message = (err as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected an InputError');
}

describe('ground truth', () => {
  it('reads images, categories and annotations into columns', () => {
    const gt = groundTruthFromJson(GT, 'gt.json');
    expect(gt.imageIds).toEqual([1, 2]);
    expect(gt.categoryIds).toEqual([3]);
    expect(gt.categoryNames.get(3)).toBe('car');
    expect(Array.from(gt.annotations.id)).toEqual([10, 11]);
    expect(Array.from(gt.annotations.bbox)).toEqual([1, 2, 3, 4, 0, 0, 5, 5]);
    expect(Array.from(gt.annotations.area)).toEqual([12, 25]);
    expect(Array.from(gt.annotations.iscrowd)).toEqual([0, 1]);
  });

  it('names file, index and field of each problem', () => {
    const withAnn = (patch: Record<string, unknown>) => ({ ...GT, annotations: [GT.annotations[0], { ...GT.annotations[1], ...patch }] });
    expect(errorOf(() => groundTruthFromJson([], 'gt.json'))).toBe('gt.json: ground truth must be a JSON object, got an array');
    expect(errorOf(() => groundTruthFromJson({ images: [], categories: [] }, 'gt.json'))).toBe('gt.json: field "annotations": missing key');
    expect(errorOf(() => groundTruthFromJson(withAnn({ bbox: [0, 0, 5] }), 'gt.json'))).toBe(
      'gt.json: index 1: field "annotations.bbox": must be 4 finite numbers [x, y, w, h], got [0,0,5]',
    );
    expect(errorOf(() => groundTruthFromJson(withAnn({ bbox: [0, 0, -5, 5] }), 'gt.json'))).toBe(
      'gt.json: index 1: field "annotations.bbox": width and height must be >= 0, got [0, 0, -5, 5]',
    );
    expect(errorOf(() => groundTruthFromJson(withAnn({ area: undefined }), 'gt.json'))).toBe('gt.json: index 1: field "annotations.area": missing key');
    expect(errorOf(() => groundTruthFromJson(withAnn({ image_id: 7 }), 'gt.json'))).toBe(
      'gt.json: index 1: field "annotations.image_id": unknown image id 7 (not in "images")',
    );
    expect(errorOf(() => groundTruthFromJson(withAnn({ category_id: 4 }), 'gt.json'))).toBe(
      'gt.json: index 1: field "annotations.category_id": unknown category id 4 (not in "categories")',
    );
    expect(errorOf(() => groundTruthFromJson(withAnn({ id: 10 }), 'gt.json'))).toBe('gt.json: index 1: field "annotations.id": duplicate annotation id 10');
    expect(errorOf(() => groundTruthFromJson({ ...GT, images: [{ id: 1 }, { name: 'x' }] }, 'gt.json'))).toBe('gt.json: index 1: field "images.id": missing key');
  });
});

describe('results', () => {
  const gt = groundTruthFromJson(GT, 'gt.json');
  const good = { image_id: 1, category_id: 3, bbox: [1, 2, 3, 4], score: 0.5 };
  const second = (patch: Record<string, unknown>) => [good, { ...good, ...patch }];

  it('reads detections in input order, ignoring extra keys', () => {
    const dt = detectionsFromJson([good, { ...good, image_id: 2, score: 0.25, segmentation: [] }], 'dt.json', gt);
    expect(Array.from(dt.imageId)).toEqual([1, 2]);
    expect(Array.from(dt.score)).toEqual([0.5, 0.25]);
    expect(Array.from(dt.bbox)).toEqual([1, 2, 3, 4, 1, 2, 3, 4]);
  });

  it('names file, index and field of each problem', () => {
    expect(errorOf(() => detectionsFromJson({}, 'dt.json', gt))).toBe('dt.json: results must be a JSON array of detections, got an object');
    expect(errorOf(() => detectionsFromJson(second({ score: undefined }), 'dt.json', gt))).toBe('dt.json: index 1: field "score": missing key');
    expect(errorOf(() => detectionsFromJson(second({ bbox: [1, 2, 'a', 4] }), 'dt.json', gt))).toBe(
      'dt.json: index 1: field "bbox": must be 4 finite numbers [x, y, w, h], got [1,2,"a",4]',
    );
    expect(errorOf(() => detectionsFromJson(second({ bbox: [1, 2, 3, -1] }), 'dt.json', gt))).toBe(
      'dt.json: index 1: field "bbox": width and height must be >= 0, got [1, 2, 3, -1]',
    );
    expect(errorOf(() => detectionsFromJson(second({ image_id: 99 }), 'dt.json', gt))).toBe(
      'dt.json: index 1: field "image_id": unknown image id 99 (not in the ground truth)',
    );
    expect(errorOf(() => detectionsFromJson(second({ category_id: 1 }), 'dt.json', gt))).toBe(
      'dt.json: index 1: field "category_id": unknown category id 1 (not in the ground truth)',
    );
    expect(errorOf(() => detectionsFromJson(second({ score: '0.5' }), 'dt.json', gt))).toBe('dt.json: index 1: field "score": must be a finite number, got string "0.5"');
    expect(errorOf(() => detectionsFromJson([good, 5], 'dt.json', gt))).toBe('dt.json: index 1: field "detection": must be an object, got number 5');
  });

  it('rejects a non-finite score written in the file (1e999 parses to Infinity)', () => {
    const gtPath = tempFile('gt.json', JSON.stringify(GT));
    const dtPath = tempFile('dt.json', '[{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 1e999}]');
    const loaded = readGroundTruth(gtPath);
    expect(errorOf(() => readDetections(dtPath, loaded))).toBe(`${dtPath}: index 0: field "score": must be a finite number, got number Infinity`);
  });

  it('reports malformed JSON and missing files with the path', () => {
    const bad = tempFile('bad.json', '[{"image_id": 1,');
    expect(errorOf(() => readDetections(bad, gt))).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: malformed JSON: `));
    expect(errorOf(() => readGroundTruth('/nonexistent/gt.json'))).toBe('/nonexistent/gt.json: file not found');
  });
});
