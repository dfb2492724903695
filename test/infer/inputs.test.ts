import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listImages } from '../../src/infer/inputs.js';

describe('listImages', () => {
  const dir = mkdtempSync(join(tmpdir(), 'psdet-inputs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const touch = (name: string): string => {
    writeFileSync(join(dir, name), '');
    return join(dir, name);
  };

  it('takes COCO ids from numeric names, images of a directory in name order', () => {
    mkdirSync(join(dir, 'coco'));
    writeFileSync(join(dir, 'coco', '000000000139.jpg'), '');
    writeFileSync(join(dir, 'coco', '000000000285.JPG'), '');
    writeFileSync(join(dir, 'coco', 'notes.txt'), '');
    expect(listImages([join(dir, 'coco')])).toEqual([
      { path: join(dir, 'coco', '000000000139.jpg'), imageId: 139 },
      { path: join(dir, 'coco', '000000000285.JPG'), imageId: 285 },
    ]);
  });

  it('numbers images 1..N when a name is not a number', () => {
    const a = touch('dog.png');
    const b = touch('42.jpg');
    expect(listImages([a, b]).map((i) => i.imageId)).toEqual([1, 2]);
  });

  it('names a missing path and an empty directory', () => {
    expect(() => listImages([join(dir, 'nope.jpg')])).toThrow(`${join(dir, 'nope.jpg')}: no such file or directory`);
    mkdirSync(join(dir, 'empty'));
    expect(() => listImages([join(dir, 'empty')])).toThrow(/empty: directory holds no images/);
  });
});
