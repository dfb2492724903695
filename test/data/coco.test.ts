import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CocoDataset } from '../../src/data/coco.js';
import { readGroundTruth } from '../../src/eval/coco-json.js';
import { InputError } from '../../src/util/errors.js';
import { COCO_MINI, cocoMiniSkip } from '../helpers.js';
import { tempDir, writeCoco } from './fixtures.js';

const CATS = [
  { id: 7, name: 'triangle' },
  { id: 3, name: 'circle' },
  { id: 12, name: 'square' },
];

/** A tiny hand-written dataset: every rule of the index in one file. */
function tinyJson(): Record<string, unknown> {
  return {
    images: [
      { id: 20, file_name: 'b.png', width: 100, height: 50 },
      { id: 10, file_name: 'a.png', width: 64, height: 80 },
      { id: 30, file_name: 'c.png', width: 40, height: 40 }, // only a crowd box: "empty" for training
      { id: 40, file_name: 'd.png', width: 40, height: 40 }, // no annotations at all
    ],
    annotations: [
      { id: 1, image_id: 10, category_id: 3, bbox: [10, 20, 30, 40], iscrowd: 0 },
      { id: 2, image_id: 10, category_id: 12, bbox: [5, 5, 0.5, 10], iscrowd: 0 }, // width 0.5 < 1: degenerate
      { id: 3, image_id: 20, category_id: 7, bbox: [90, 40, 30, 30], iscrowd: 0 }, // clipped to [90,40,100,50]
      { id: 4, image_id: 20, category_id: 12, bbox: [0, 0, 20, 10], iscrowd: 1 }, // crowd: ignore region
      { id: 5, image_id: 30, category_id: 3, bbox: [1, 1, 10, 10], iscrowd: 1 },
      { id: 6, image_id: 20, category_id: 3, bbox: [99.5, 0, 5, 5], iscrowd: 0 }, // clipped width 0.5: degenerate
    ],
    categories: CATS,
  };
}

describe('CocoDataset on a hand-written file', () => {
  const root = tempDir();
  const file = writeCoco(root, 'train2017', tinyJson());
  const imageDir = join(root, 'train2017');

  it('maps sparse category ids to contiguous labels in id order, and back', () => {
    const ds = CocoDataset.load(file, imageDir, { forTraining: false });
    // sorted ids 3, 7, 12 -> labels 0, 1, 2
    expect(ds.categories.map((c) => c.id)).toEqual([3, 7, 12]);
    expect(ds.classNames).toEqual(['circle', 'triangle', 'square']);
    expect(ds.categoryIdToLabel(12)).toBe(2);
    expect(ds.labelToCategoryId(1)).toBe(7);
    expect(() => ds.categoryIdToLabel(5)).toThrow(/unknown category id 5/);
    expect(() => ds.labelToCategoryId(3)).toThrow(RangeError);
  });

  it('converts xywh to clipped xyxy, keeps crowd apart, drops and counts degenerate boxes', () => {
    const ds = CocoDataset.load(file, imageDir, { forTraining: false });
    const a = ds.annotationsFor(10);
    // [10, 20, 30, 40] xywh -> [10, 20, 40, 60] xyxy; the 0.5-wide box is dropped
    expect(Array.from(a.boxes)).toEqual([10, 20, 40, 60]);
    expect(Array.from(a.labels)).toEqual([0]);
    expect(Array.from(a.annotationIds)).toEqual([1]);
    const b = ds.annotationsFor(20);
    // [90, 40, 30, 30] -> [90, 40, 120, 70] clipped to the 100x50 image -> [90, 40, 100, 50]
    expect(Array.from(b.boxes)).toEqual([90, 40, 100, 50]);
    expect(Array.from(b.labels)).toEqual([1]);
    expect(Array.from(b.crowdBoxes)).toEqual([0, 0, 20, 10]);
    expect(ds.stats).toMatchObject({ degenerateDropped: 2, crowdIgnored: 2, boxesKept: 2, emptySkipped: 0, emptyKept: 2 });
  });

  it('keeps every image sorted by id for evaluation, skips empty and crowd-only ones for training', () => {
    const evalSet = CocoDataset.load(file, imageDir, { forTraining: false });
    expect(evalSet.images.map((im) => im.id)).toEqual([10, 20, 30, 40]);
    expect(evalSet.image(10).path).toBe(join(imageDir, 'a.png'));
    const trainSet = CocoDataset.load(file, imageDir, { forTraining: true });
    expect(trainSet.images.map((im) => im.id)).toEqual([10, 20]);
    expect(trainSet.stats.emptySkipped).toBe(2);
    const keepAll = CocoDataset.load(file, imageDir, { forTraining: true, skipEmpty: false });
    expect(keepAll.images.map((im) => im.id)).toEqual([10, 20, 30, 40]);
    const limited = CocoDataset.load(file, imageDir, { forTraining: false, limit: 3 });
    expect(limited.images.map((im) => im.id)).toEqual([10, 20, 30]);
  });

  it('names the file, the index and the field for bad annotation files', () => {
    const bad = (json: unknown): string => {
      const f = writeCoco(tempDir(), 'val2017', json);
      try {
        CocoDataset.load(f, imageDir, { forTraining: false });
      } catch (err) {
        expect(err).toBeInstanceOf(InputError);
        expect((err as Error).message).toContain(f);
        expect((err as Error).message.split('\n')).toHaveLength(1);
        return (err as Error).message;
      }
      throw new Error('expected an InputError');
    };
    expect(bad('{"images": [')).toMatch(/malformed JSON/);
    expect(bad('[]')).toMatch(/must be a JSON object/);
    expect(bad({ ...tinyJson(), images: undefined })).toMatch(/field "images".*must be an array/);
    const unknownCat = tinyJson();
    (unknownCat['annotations'] as Record<string, unknown>[])[3]!['category_id'] = 999;
    expect(bad(unknownCat)).toMatch(/index 3: field "category_id".*unknown category id 999/);
    const unknownImage = tinyJson();
    (unknownImage['annotations'] as Record<string, unknown>[])[1]!['image_id'] = 11;
    expect(bad(unknownImage)).toMatch(/index 1: field "image_id".*unknown image id 11/);
    const badBox = tinyJson();
    (badBox['annotations'] as Record<string, unknown>[])[0]!['bbox'] = [1, 2, 3];
    expect(bad(badBox)).toMatch(/index 0: field "bbox"/);
    const badSize = tinyJson();
    (badSize['images'] as Record<string, unknown>[])[2]!['width'] = 'forty';
    expect(bad(badSize)).toMatch(/index 2: field "width"/);
    expect(() => CocoDataset.load(join(root, 'nope.json'), imageDir, { forTraining: false })).toThrow(/nope\.json: cannot read annotation file \(ENOENT\)/);
  });
});

const COCO_MINI_SKIP = cocoMiniSkip();

describe.skipIf(COCO_MINI === null)(`CocoDataset on coco-mini ${COCO_MINI_SKIP}`, () => {
  if (COCO_MINI === null) {
    // nothing to collect without the data; this skipped test carries the reason into the report
    it.skip(COCO_MINI_SKIP, () => undefined);
    return;
  }
  const root = COCO_MINI;
  const load = (split: string, forTraining: boolean): CocoDataset =>
    CocoDataset.load(join(root, 'annotations', `instances_${split}.json`), join(root, 'images', split), { forTraining });

  it('indexes the 80 COCO classes with sparse ids 1..90 onto labels 0..79', () => {
    const ds = load('train2017', true);
    expect(ds.numClasses).toBe(80);
    expect(ds.images).toHaveLength(80);
    expect(ds.categoryIdToLabel(1)).toBe(0);
    // ids 12, 26, 29, 30, 45, 66, 68, 69, 71, 83 are unused: 90 - 10 = 80, so id 90 is label 79
    expect(ds.categoryIdToLabel(90)).toBe(79);
    // id 13 (stop sign) follows 11 (fire hydrant): label 11
    expect(ds.categoryIdToLabel(13)).toBe(11);
    expect(ds.categories[11]!.name).toBe('stop sign');
  });

  it('keeps the 8 crowd boxes of train as ignore regions and the other 731 as positives', () => {
    const ds = load('train2017', true);
    // README of coco-mini: 739 annotations, 8 crowd; none degenerate, no empty image
    expect(ds.stats).toMatchObject({ annotationsInFile: 739, crowdIgnored: 8, boxesKept: 731, degenerateDropped: 0, emptySkipped: 0 });
    const a = ds.annotationsFor(535506);
    // crowd bbox [1, 88, 83, 71] xywh -> [1, 88, 84, 159] xyxy
    expect(Array.from(a.crowdBoxes)).toEqual([1, 88, 84, 159]);
    expect(a.labels).toHaveLength(28); // 29 annotations, one of them crowd
    const v = load('val2017', false);
    expect(v.stats).toMatchObject({ annotationsInFile: 624, crowdIgnored: 5, boxesKept: 619 });
    expect(v.images).toHaveLength(79);
  });
});

describe('one validation path: the training reader refuses what the strict evaluation reader refuses', () => {
  const root = tempDir();
  const imageDir = join(root, 'train2017');
  const good = (): Record<string, unknown> => ({
    images: [
      { id: 1, file_name: 'a.png', width: 100, height: 80 },
      { id: 2, file_name: 'b.png', width: 100, height: 80 },
    ],
    annotations: [
      { id: 10, image_id: 1, category_id: 3, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0 },
      { id: 11, image_id: 2, category_id: 3, bbox: [30, 20, 10, 10], area: 100, iscrowd: 0 },
    ],
    categories: [{ id: 3, name: 'thing' }],
  });
  const withAnnotation = (patch: Record<string, unknown>): Record<string, unknown> => {
    const json = good();
    const anns = json['annotations'] as Record<string, unknown>[];
    anns[1] = { ...anns[1], ...patch };
    return json;
  };
  /** Each case: the file, and the field both readers must name. */
  const cases: [string, Record<string, unknown>, string][] = [
    ['a negative box width', withAnnotation({ bbox: [30, 20, -10, 10] }), 'bbox'],
    ['a negative box height', withAnnotation({ bbox: [30, 20, 10, -1] }), 'bbox'],
    ['a duplicate annotation id', withAnnotation({ id: 10 }), 'id'],
    ['a missing annotation id', withAnnotation({ id: undefined }), 'id'],
    ['an unknown image id', withAnnotation({ image_id: 99 }), 'image_id'],
    ['an unknown category id', withAnnotation({ category_id: 4 }), 'category_id'],
    ['a 3-number box', withAnnotation({ bbox: [1, 2, 3] }), 'bbox'],
    ['iscrowd 2', withAnnotation({ iscrowd: 2 }), 'iscrowd'],
  ];

  it('accepts the good file in both readers', () => {
    const file = writeCoco(root, 'train2017', good());
    expect(CocoDataset.load(file, imageDir, { forTraining: true }).images).toHaveLength(2);
    expect(readGroundTruth(file).annotations.id).toHaveLength(2);
  });

  for (const [what, json, field] of cases) {
    it(`refuses ${what} in both, naming the file, annotation index 1 and field "${field}"`, () => {
      const file = writeCoco(tempDir(), 'train2017', json);
      const messages = [
        () => CocoDataset.load(file, imageDir, { forTraining: true }),
        () => CocoDataset.load(file, imageDir, { forTraining: false }),
        // pycocotools ignores annotations on undeclared images or categories, and so does eval-det unless --strict;
        // a training set that holds them is refused (its boxes could train no class)
        () => readGroundTruth(file, { strict: true }),
      ].map((read) => {
        try {
          read();
        } catch (err) {
          expect(err).toBeInstanceOf(InputError);
          return (err as Error).message;
        }
        throw new Error(`accepted ${what}`);
      });
      for (const m of messages) {
        expect(m.startsWith(`${file}: index 1: field "`)).toBe(true);
        // the evaluation reader names fields as annotations.<key>
        expect(m).toMatch(new RegExp(`field "(annotations\\.)?${field}"`));
        expect(m.split('\n')).toHaveLength(1);
      }
      if (field === 'image_id' || field === 'category_id') {
        // without --strict the evaluation reader keeps the file and counts the one it left out
        const gt = readGroundTruth(file);
        expect(gt.annotations.id).toHaveLength(1);
        expect(gt.ignored[field === 'image_id' ? 'undeclaredImage' : 'undeclaredCategory']).toEqual({ count: 1, first: { index: 1, id: field === 'image_id' ? 99 : 4 } }); // the undeclared id
      }
    });
  }

  it('a training split left with no image says which file and why', () => {
    const bad = (json: Record<string, unknown>): string => {
      const file = writeCoco(tempDir(), 'train2017', json);
      try {
        CocoDataset.load(file, imageDir, { forTraining: true });
      } catch (err) {
        expect(err).toBeInstanceOf(InputError);
        expect((err as Error).message.startsWith(`${file}: no training images: `)).toBe(true);
        return (err as Error).message;
      }
      throw new Error('expected an InputError');
    };
    expect(bad({ ...good(), annotations: [] })).toMatch(/none of the 2 images has an annotation \("annotations" is empty\)/);
    expect(bad({ ...good(), images: [], annotations: [] })).toMatch(/"images" is empty/);
    const onlyCrowdAndTiny = withAnnotation({ iscrowd: 1 });
    (onlyCrowdAndTiny['annotations'] as Record<string, unknown>[])[0]!['bbox'] = [10, 10, 0.5, 20];
    expect(bad(onlyCrowdAndTiny)).toMatch(/none of the 2 images has a usable box \(annotations: 1 crowd, 1 under 1 pixel after clipping\)/);
    // evaluation keeps every image, boxes or not
    const file = writeCoco(tempDir(), 'val2017', { ...good(), annotations: [] });
    expect(CocoDataset.load(file, imageDir, { forTraining: false }).images).toHaveLength(2);
  });
});
