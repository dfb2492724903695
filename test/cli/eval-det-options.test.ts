// eval-det flag parsing: values to evaluator parameters, bad values to one-line errors naming the flag.
import { describe, expect, it } from 'vitest';
import { paramsFromFlags, parseIouThrs, parseNumberList, parseUseCats } from '../../src/cli/eval-det-options.js';
import { categoryListWarning, ignoredWarnings } from '../../src/cli/eval-det-warnings.js';
import { resolveParams } from '../../src/eval/cocoeval.js';
import { defaultIouThrs } from '../../src/eval/cocoeval.js';
import { groundTruthFromJson } from '../../src/eval/coco-json.js';

const gt = groundTruthFromJson({ images: [{ id: 1 }, { id: 2 }], categories: [{ id: 5 }, { id: 7 }], annotations: [] }, 'gt.json');

describe('eval-det options', () => {
  it('builds IoU thresholds from a range exactly as the defaults (np.linspace)', () => {
    expect(parseIouThrs('.5:.05:.95')).toEqual(defaultIouThrs());
    expect(parseIouThrs('0.5:0.25:1')).toEqual([0.5, 0.75, 1]);
    expect(parseIouThrs('0.5, 0.75')).toEqual([0.5, 0.75]);
    expect(() => parseIouThrs('0.5:0:1')).toThrow('--iou-thrs: a range needs step > 0 and stop >= start, got "0.5:0:1"');
    expect(() => parseIouThrs('1.5')).toThrow('--iou-thrs: thresholds must lie in [0, 1], got 1.5');
  });

  it('parses lists and use-cats', () => {
    expect(parseNumberList('1, 2,3', '--img-ids')).toEqual([1, 2, 3]);
    expect(() => parseNumberList('1,,2', '--img-ids')).toThrow('--img-ids: expected a comma-separated list of numbers, got "1,,2"');
    expect(parseUseCats('0')).toBe(false);
    expect(parseUseCats('1')).toBe(true);
  });

  it('checks ids against the ground truth and maxDets against the summary', () => {
    expect(paramsFromFlags({ gt: 'gt.json', dt: 'dt.json', imgIds: '2', catIds: '7', useCats: '0', maxDets: '100,1,10' }, gt)).toEqual({
      imgIds: [2],
      catIds: [7],
      useCats: false,
      maxDets: [100, 1, 10],
    });
    expect(() => paramsFromFlags({ gt: 'gt.json', dt: 'dt.json', imgIds: '3' }, gt)).toThrow('--img-ids: unknown image id 3 (not in gt.json)');
    expect(() => paramsFromFlags({ gt: 'gt.json', dt: 'dt.json', catIds: '6' }, gt)).toThrow('--cat-ids: unknown category id 6 (not in gt.json)');
    expect(() => paramsFromFlags({ gt: 'gt.json', dt: 'dt.json', maxDets: '10,100' }, gt)).toThrow(/--max-dets: the 12-line summary needs 3 distinct values/);
    expect(() => paramsFromFlags({ gt: 'gt.json', dt: 'dt.json', maxDets: '1,10,0.5' }, gt)).toThrow('--max-dets: values must be positive integers, got 0.5');
  });

  it('keeps --cat-ids as given without useCats (pycocotools), and warns about repeats', () => {
    const flags = { gt: 'gt.json', dt: 'dt.json', catIds: '7,5,7', useCats: '0' };
    const params = resolveParams(gt, paramsFromFlags(flags, gt));
    expect(params.catIds).toEqual([7, 5, 7]);
    expect(categoryListWarning(params)).toEqual(['warning: useCats=0 with categories listed more than once (7): their boxes count once per listing, as pycocotools counts them']);
    expect(resolveParams(gt, paramsFromFlags({ ...flags, useCats: '1' }, gt)).catIds).toEqual([5, 7]);
    expect(categoryListWarning(resolveParams(gt, { useCats: false }))).toEqual([]);
  });

  it('maps string ids of the ground truth', () => {
    const named = groundTruthFromJson({ images: [{ id: 'b' }, { id: 'a' }], categories: [{ id: 'car' }], annotations: [] }, 'gt.json');
    expect(paramsFromFlags({ gt: 'gt.json', dt: 'dt.json', imgIds: 'b, a', catIds: 'car' }, named)).toEqual({ imgIds: [1, 0], catIds: [0] });
    expect(() => paramsFromFlags({ gt: 'gt.json', dt: 'dt.json', imgIds: 'c' }, named)).toThrow('--img-ids: unknown image id "c" (not in gt.json)');
  });

  it('words one warning line per kind of ignored record, naming the first', () => {
    const none = { count: 0 };
    expect(ignoredWarnings('gt.json', { ignored: { undeclaredImage: none, undeclaredCategory: none } }, 'dt.json', { ignoredUndeclaredCategory: none })).toEqual([]);
    expect(
      ignoredWarnings('gt.json', { ignored: { undeclaredImage: { count: 1, first: { index: 4, id: 'x' } }, undeclaredCategory: none } }, 'dt.json', {
        ignoredUndeclaredCategory: { count: 3, first: { index: 0, id: 91 } },
      }),
    ).toEqual([
      'warning: dt.json: ignored 3 detections of categories gt.json does not declare (first: index 0, category_id 91), as pycocotools does (--strict refuses them)',
      'warning: gt.json: ignored 1 annotation on images not in "images" (first: index 4, image_id "x"), as pycocotools does (--strict refuses them)',
    ]);
  });
});
