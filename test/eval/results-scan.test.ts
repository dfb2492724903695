// The fast results reader must give exactly what JSON.parse + validation gives on valid files, and hand every
// invalid or unusual file (returning null) to the validating path, which names the problem.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectionsFromJson, groundTruthFromJson, readGroundTruth } from '../../src/eval/coco-json.js';
import type { DetectionSet } from '../../src/eval/cocoeval.js';
import { scanDetections } from '../../src/eval/results-scan.js';
import { Rng } from '../../src/util/rng.js';
import { COCOEVAL_FIXTURES, cocoevalFixturesSkip } from '../helpers.js';

const gt = groundTruthFromJson({ images: [{ id: 1 }, { id: 2 }, { id: 300 }], categories: [{ id: 1 }, { id: 18 }], annotations: [] }, 'gt.json');
const IMAGES = new Set(gt.imageIds);
const CATS = new Set(gt.categoryIds);

function columns(d: DetectionSet): number[][] {
  return [Array.from(d.imageId), Array.from(d.categoryId), Array.from(d.bbox), Array.from(d.score)];
}

function expectSameAsParse(text: string): void {
  const fast = scanDetections(text, IMAGES, CATS);
  expect(fast, text.slice(0, 200)).not.toBeNull();
  const slow = detectionsFromJson(JSON.parse(text), 'dt.json', gt);
  const a = columns(fast!);
  const b = columns(slow);
  // Object.is: -0 and NaN-free bit-level agreement.
  a.forEach((col, c) => col.forEach((v, i) => expect(Object.is(v, b[c]![i]), `column ${c} index ${i}: ${v} vs ${b[c]![i]}`).toBe(true)));
  expect(a.map((col) => col.length)).toEqual(b.map((col) => col.length));
}

describe('scanDetections', () => {
  it('reads the usual layout, extra keys, any key order, whitespace and number forms as JSON.parse does', () => {
    expectSameAsParse('[]');
    expectSameAsParse(' [ ] \n');
    expectSameAsParse('[{"image_id": 1, "category_id": 18, "bbox": [1.5, 2, 3e1, 4E-2], "score": 0.123456789012345678}]');
    expectSameAsParse(
      '[\n{"score":1,"bbox":[-0,0.0,1e+2,2.5e-3],"segmentation":{"size":[426,640],"counts":"Tc`52W\\\\=3\\"N"},"area":7,' +
        '"category_id":1,"image_id":300,"id":"x","extra":[[1,2],{"a":null,"b":true}],"bbox":[0,1,2,3]},\r\n' +
        '\t{"image_id":2.0,"category_id":1.8e1,"bbox":[ 1 , 2 , 3 , 4 ],"score":-0.5}\n]',
    );
  });

  it('agrees with JSON.parse on random files', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 30; trial++) {
      const n = rng.int(40);
      const dets = Array.from({ length: n }, () => ({
        image_id: [1, 2, 300][rng.int(3)],
        category_id: [1, 18][rng.int(2)],
        bbox: [rng.normal() * 100, rng.uniform(0, 1e6), rng.next() ** 8, rng.uniform(0, 1e-6)],
        score: rng.next() < 0.2 ? Math.round(rng.next() * 10) / 10 : rng.normal(),
        ...(rng.next() < 0.3 ? { segmentation: [[rng.next(), 2, 3]], area: rng.next(), note: 'a\\"b\u00e9' } : {}),
      }));
      expectSameAsParse(JSON.stringify(dets, null, trial % 3 === 0 ? 1 : undefined));
    }
  });

  it('converts decimal literals exactly as Number() does (short ones by the exact-double fast path)', () => {
    const rng = new Rng(11);
    const literal = (): string => {
      const int = rng.int(3) === 0 ? '0' : String(1 + rng.int(9)) + Array.from({ length: rng.int(9) }, () => rng.int(10)).join('');
      const frac = rng.int(3) === 0 ? '' : `.${Array.from({ length: 1 + rng.int(14) }, () => rng.int(10)).join('')}`;
      const exp = rng.int(3) === 0 ? `${rng.next() < 0.5 ? 'e' : 'E'}${['', '+', '-'][rng.int(3)]}${rng.int(30)}` : '';
      return `${int}${frac}${exp}`;
    };
    const scores = Array.from({ length: 20000 }, literal);
    const text = `[${scores.map((sc) => `{"image_id":1,"category_id":1,"bbox":[0,0,${sc},0],"score":${rng.next() < 0.5 ? '-' : ''}${sc}}`).join(',')}]`;
    expectSameAsParse(text);
  });

  it('hands anything invalid or malformed to the validating path', () => {
    const good = '{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}';
    const bad = [
      '',
      '{}',
      `[${good},]`,
      `[${good}`,
      `[${good}] x`,
      '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}]', // no score
      '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 0.5}]',
      '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1, 1], "score": 0.5}]',
      '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, -1, 1], "score": 0.5}]',
      '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1e999}]',
      '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": "0.5"}]',
      '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": null}]',
      '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 01}]',
      '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": .5}]',
      '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5, "x": [1,,2]}]',
      '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5, "x": "a\nb"}]',
      '[{"image_id": 7, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]', // unknown image
      '[{"image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1], "score": 0.5}]', // unknown category
      '[{"image\\u005fid": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]', // escaped key: not fast
      '\ufeff[]',
    ];
    for (const text of bad) expect(scanDetections(text, IMAGES, CATS), text).toBeNull();
  });

  const fixtures = COCOEVAL_FIXTURES;
  const skip = cocoevalFixturesSkip();
  it.skipIf(skip !== '')(`takes the fast path on the pycocotools fixtures (with RLE segmentations) and agrees ${skip}`, () => {
    for (const dir of ['img139', 'val2014-fakebbox100']) {
      const fixtureGt = readGroundTruth(join(fixtures, dir, 'gt.json'));
      const text = readFileSync(join(fixtures, dir, 'dt.json'), 'utf8');
      const fast = scanDetections(text, new Set(fixtureGt.imageIds), new Set(fixtureGt.categoryIds));
      expect(fast).not.toBeNull();
      expect(columns(fast!)).toEqual(columns(detectionsFromJson(JSON.parse(text), 'dt.json', fixtureGt)));
    }
  });
});
