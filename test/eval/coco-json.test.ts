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
    const withSuper = groundTruthFromJson({ ...GT, categories: [{ id: 3, name: 'car', supercategory: 'vehicle' }, { id: 4, supercategory: 7 }] }, 'gt.json');
    expect([...withSuper.superCategories]).toEqual([[3, 'vehicle']]);
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
    // pycocotools ignores annotations on undeclared images and categories; strict refuses them.
    expect(errorOf(() => groundTruthFromJson(withAnn({ image_id: 7 }), 'gt.json', { strict: true }))).toBe(
      'gt.json: index 1: field "annotations.image_id": unknown image id 7 (not in "images")',
    );
    expect(errorOf(() => groundTruthFromJson(withAnn({ category_id: 4 }), 'gt.json', { strict: true }))).toBe(
      'gt.json: index 1: field "annotations.category_id": unknown category id 4 (not in "categories")',
    );
    expect(errorOf(() => groundTruthFromJson(withAnn({ image_id: 'x' }), 'gt.json', { strict: true }))).toBe(
      'gt.json: index 1: field "annotations.image_id": unknown image id "x" (not in "images")',
    );
    expect(errorOf(() => groundTruthFromJson({ ...GT, images: [{ id: 1 }, { id: '2' }] }, 'gt.json'))).toBe(
      'gt.json: index 1: field "images.id": ids mix numbers and strings (pycocotools cannot sort them); use one kind',
    );
    expect(errorOf(() => groundTruthFromJson({ ...GT, images: [{ id: 2 ** 53 }] }, 'gt.json'))).toBe(
      'gt.json: index 0: field "images.id": id 9007199254740992 is at or above 2^53, where parsed numbers may have merged distinct ids; use ids below 2^53 or strings',
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
    expect(errorOf(() => detectionsFromJson(second({ category_id: 1 }), 'dt.json', gt, { strict: true }))).toBe(
      'dt.json: index 1: field "category_id": unknown category id 1 (not in the ground truth)',
    );
    expect(errorOf(() => detectionsFromJson([good, { image_id: 1, category_id: 3, segmentation: { size: [2, 2], counts: 'a' }, score: 0.5 }], 'dt.json', gt))).toBe(
      'dt.json: index 1: field "bbox": missing key: only bbox results are evaluated; this is a segmentation result ("segmentation" without "bbox")',
    );
    expect(errorOf(() => detectionsFromJson([{ image_id: 1, category_id: 3, keypoints: [1, 2, 2], score: 0.5 }], 'dt.json', gt))).toBe(
      'dt.json: index 0: field "bbox": missing key: only bbox results are evaluated; this is a keypoint result ("keypoints" without "bbox")',
    );
    expect(errorOf(() => detectionsFromJson(second({ score: '0.5' }), 'dt.json', gt))).toBe('dt.json: index 1: field "score": must be a finite number, got string "0.5"');
    expect(errorOf(() => detectionsFromJson([good, 5], 'dt.json', gt))).toBe('dt.json: index 1: field "detection": must be an object, got number 5');
  });

  it('ignores detections of undeclared categories as pycocotools does, counting them', () => {
    const dt = detectionsFromJson([{ ...good, category_id: 90 }, good, { ...good, category_id: 91 }], 'dt.json', gt);
    expect(Array.from(dt.score)).toEqual([0.5]);
    expect(dt.ignoredUndeclaredCategory).toEqual({ count: 2, first: { index: 0, id: 90 } });
  });

  it('ignores GT annotations on undeclared images and categories as pycocotools does, counting them', () => {
    const loaded = groundTruthFromJson({ ...GT, annotations: [...GT.annotations, { ...GT.annotations[0], id: 12, image_id: 9 }, { ...GT.annotations[0], id: 13, category_id: 8 }] }, 'gt.json');
    expect(Array.from(loaded.annotations.imageId)).toEqual([1, 2]);
    expect(loaded.ignored.undeclaredImage).toEqual({ count: 1, first: { index: 2, id: 9 } });
    expect(loaded.ignored.undeclaredCategory).toEqual({ count: 1, first: { index: 3, id: 8 } });
  });

  it('names index and field of NaN and Infinity tokens (Python json.dump writes them), split anywhere', () => {
    const loaded = readGroundTruth(tempFile('gt.json', JSON.stringify(GT)));
    const path = tempFile('dt.json', '[{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5},\n {"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": NaN}]');
    const infinite = tempFile('dt.json', '[{"image_id": 1, "category_id": 3, "bbox": [1, -Infinity, 3, 4], "score": 0.5}]');
    for (const chunkBytes of [1, 3, undefined]) {
      expect(errorOf(() => readDetections(path, loaded, { chunkBytes }))).toBe(`${path}: index 1: field "score": must be a finite number, got number NaN`);
      expect(errorOf(() => readDetections(infinite, loaded, { chunkBytes }))).toBe(`${infinite}: index 0: field "bbox": must be 4 finite numbers [x, y, w, h], got [1,-Infinity,3,4]`);
    }
  });

  it('refuses integer ids a double cannot hold (two ids would merge), accepts string ids', () => {
    const big = tempFile('gt.json', '{"images": [{"id": 9007199254740992}, {"id": 9007199254740993}], "categories": [{"id": 1}], "annotations": []}');
    expect(errorOf(() => readGroundTruth(big))).toBe(
      `${big}: index 1: field "images.id": id 9007199254740993 is not exactly representable as a double (it would read as 9007199254740992, merging distinct ids); use ids below 2^53 or strings`,
    );
    const loaded = readGroundTruth(tempFile('gt.json', JSON.stringify(GT)));
    const dt = tempFile('dt.json', '[{"image_id": 12345678901234567890, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}]');
    expect(errorOf(() => readDetections(dt, loaded))).toMatch(/: index 0: field "image_id": id 12345678901234567890 is not exactly representable/);
    const strings = readGroundTruth(tempFile('gt.json', JSON.stringify({ images: [{ id: 'b' }, { id: 'a' }], categories: [{ id: 'car' }], annotations: [] })));
    expect(strings.imageIdSpace).toEqual({ kind: 'string', strings: ['a', 'b'] });
    expect(strings.imageIds).toEqual([1, 0]);
    const sdt = readDetections(tempFile('dt.json', '[{"image_id": "b", "category_id": "car", "bbox": [1, 2, 3, 4], "score": 0.5}]'), strings);
    expect(Array.from(sdt.imageId)).toEqual([1]);
    expect(errorOf(() => detectionsFromJson([{ ...good, image_id: 1 }], 'dt.json', strings))).toBe('dt.json: index 0: field "image_id": unknown image id 1 (not in the ground truth)');
  });

  it('rejects a non-finite score written in the file (1e999 parses to Infinity)', () => {
    const gtPath = tempFile('gt.json', JSON.stringify(GT));
    const dtPath = tempFile('dt.json', '[{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 1e999}]');
    const loaded = readGroundTruth(gtPath);
    expect(errorOf(() => readDetections(dtPath, loaded))).toBe(`${dtPath}: index 0: field "score": must be a finite number, got number Infinity`);
  });

  it('reports malformed JSON and missing files with the path', () => {
    const bad = tempFile('bad.json', '[{"image_id": 1,');
    expect(errorOf(() => readDetections(bad, gt))).toBe(`${bad}: index 0: malformed JSON: expected a string key, got the end of the file at byte 16`);
    const twice = tempFile('gt.json', '{"images": [], "categories": [], "annotations": [], "images": []}');
    expect(errorOf(() => readGroundTruth(twice))).toBe(`${twice}: field "images": the key appears twice in the file`);
    const badGt = tempFile('gt.json', '{"images": [{"id": 1}, {"id": 2]}');
    expect(errorOf(() => readGroundTruth(badGt))).toBe(`${badGt}: index 1: field "images": malformed JSON: expected ',' or '}' after an object member, got ']' at byte 31`);
    expect(errorOf(() => readGroundTruth('/nonexistent/gt.json'))).toBe('/nonexistent/gt.json: file not found');
  });
});
