import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listImages } from '../../src/infer/inputs.js';
import { formatProgress, ProgressBar } from '../../src/infer/progress.js';

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

describe('formatProgress', () => {
  it('draws the bar, count, percent, rate and eta', () => {
    // 35 of 100 in 10 s: 3.5 img/s; 65 left / 3.5 = 18.6 -> eta 19 s; round(0.35 * 20) = 7 hashes.
    expect(formatProgress(35, 100, 10)).toBe('[#######.............]  35/100  35%  3.5 img/s  eta 19s');
    expect(formatProgress(0, 4, 0)).toBe('[....................] 0/4   0%  0.0 img/s  eta ?');
  });

  it('stays silent on a stream that is not a TTY', () => {
    let written = '';
    const stream = { isTTY: false, write: (s: string) => (written += s) } as unknown as NodeJS.WriteStream;
    const bar = new ProgressBar(10, stream);
    bar.tick();
    bar.finish();
    expect(written).toBe('');
    const tty = { isTTY: true, write: (s: string) => (written += s) } as unknown as NodeJS.WriteStream;
    let t = 0;
    const drawn = new ProgressBar(2, tty, () => (t += 1000));
    drawn.tick();
    expect(written).toBe('\r[##########..........] 1/2  50%  1.0 img/s  eta 1s');
  });
});
