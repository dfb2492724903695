import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers.js';
import { writeTinyCheckpoint } from '../infer/tiny-checkpoint.js';
import { UNWRITABLE_SKIP, unwritableDir } from './unwritable.js';

/**
 * The environment faults of eval-det, infer-det and export-det, run as a user runs them: each ends with one line
 * naming the path, exit code 2, and no stack trace.
 */
describe('eval-det, infer-det and export-det on a bad environment', () => {
  const work = mkdtempSync(join(tmpdir(), 'psdet-faults-'));
  const images = join(work, 'images');
  const data = join(work, 'coco');
  let ckpt = '';
  const readOnly = unwritableDir();

  beforeAll(async () => {
    ckpt = await writeTinyCheckpoint(work);
    mkdirSync(images);
    await sharp({ create: { width: 120, height: 80, channels: 3, background: { r: 200, g: 30, b: 60 } } }).jpeg().toFile(join(images, '000000000042.jpg'));
    await sharp({ create: { width: 60, height: 90, channels: 3, background: { r: 20, g: 130, b: 200 } } }).png().toFile(join(images, '000000000043.png'));
    // A split for eval-det --checkpoint: one image, 80 categories as the model has.
    mkdirSync(join(data, 'annotations'), { recursive: true });
    mkdirSync(join(data, 'val2017'));
    await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 9, g: 9, b: 9 } } }).jpeg().toFile(join(data, 'val2017', '1.jpg'));
    const categories = Array.from({ length: 80 }, (_, k) => ({ id: k + 1, name: `c${k + 1}` }));
    writeFileSync(
      join(data, 'annotations', 'instances_val2017.json'),
      JSON.stringify({ images: [{ id: 1, file_name: '1.jpg', width: 64, height: 64 }], annotations: [], categories }),
    );
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** One stderr line `command: --out DIR: cannot write ...: REASON`, exit 2, nothing on stdout. */
  function expectOutDirLine(r: { status: number | null; stdout: string; stderr: string }, command: string, dir: string): void {
    expect(r.stderr.endsWith('\n')).toBe(true);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.startsWith(`${command}: --out ${dir}: cannot `)).toBe(true);
    expect(lines[0]).toMatch(/: (permission denied|operation not permitted|read-only file system)$/);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(2);
  }

  it.skipIf(readOnly === null)(`a read-only --out is one line naming it, before any work${readOnly === null ? ` (skipped: ${UNWRITABLE_SKIP})` : ''}`, () => {
    const out = readOnly!;
    expectOutDirLine(runCli('infer-det.ts', [ckpt, images, '--out', out, '--backend', 'cpu'], 120_000), 'infer-det', out);
    expectOutDirLine(runCli('export-det.ts', [ckpt, '--out', out], 120_000), 'export-det', out);
    expectOutDirLine(runCli('eval-det.ts', ['--checkpoint', ckpt, '--data', data, '--out', out, '--backend', 'cpu'], 120_000), 'eval-det', out);
  });

  it('bad COCO files are one line naming the file, the index and the field, in eval-det and train-det', () => {
    // A negative box width: refused by the evaluation reader and, as of one validation path, by training too.
    const bad = join(work, 'bad-coco');
    mkdirSync(join(bad, 'annotations'), { recursive: true });
    mkdirSync(join(bad, 'val2017'));
    mkdirSync(join(bad, 'train2017'));
    const categories = Array.from({ length: 80 }, (_, k) => ({ id: k + 1, name: `c${k + 1}` }));
    const image = { id: 1, file_name: '1.jpg', width: 64, height: 64 };
    const negative = { id: 5, image_id: 1, category_id: 1, bbox: [10, 10, -4, 8], area: 32, iscrowd: 0 };
    const valFile = join(bad, 'annotations', 'instances_val2017.json');
    const trainFile = join(bad, 'annotations', 'instances_train2017.json');
    writeFileSync(valFile, JSON.stringify({ images: [image], annotations: [negative], categories }));
    writeFileSync(trainFile, JSON.stringify({ images: [image], annotations: [negative], categories }));
    const evalRun = runCli('eval-det.ts', ['--checkpoint', ckpt, '--data', bad, '--out', join(work, 'bad-out'), '--backend', 'cpu'], 120_000);
    expect(evalRun.status).toBe(2);
    expect(evalRun.stderr).toBe(`eval-det: ${valFile}: index 0: field "bbox": annotations[0].bbox width and height must be >= 0, got [10, 10, -4, 8]\n`);

    // train-det: a good val split, a train split whose only box is negative, then one with no annotations at all.
    writeFileSync(valFile, JSON.stringify({ images: [image], annotations: [], categories }));
    const train = (): { status: number | null; stderr: string } =>
      runCli('train-det.ts', ['--data', bad, '--work-dir', join(work, 'bad-run'), '--backend', 'cpu', '--max-iter', '1', '--set', 'model.numClasses=80'], 120_000);
    const negativeRun = train();
    expect(negativeRun.status).toBe(2);
    expect(negativeRun.stderr).toBe(`train-det: ${trainFile}: index 0: field "bbox": annotations[0].bbox width and height must be >= 0, got [10, 10, -4, 8]\n`);
    writeFileSync(trainFile, JSON.stringify({ images: [image], annotations: [], categories }));
    const emptyRun = train();
    expect(emptyRun.status).toBe(2);
    expect(emptyRun.stderr).toBe(`train-det: ${trainFile}: no training images: none of the 1 images has an annotation ("annotations" is empty)\n`);
  });

  it('infer-det on a folder with a corrupt and a 0-byte image writes the good images and names each bad one', () => {
    const folder = join(work, 'mixed');
    mkdirSync(folder);
    writeFileSync(join(folder, '000000000001.jpg'), Buffer.alloc(0));
    writeFileSync(join(folder, '000000000002.jpg'), 'not a JPEG');
    for (const name of ['000000000042.jpg', '000000000043.png']) writeFileSync(join(folder, name), readFileSync(join(images, name)));
    const out = join(work, 'mixed-out');
    const r = runCli('infer-det.ts', [ckpt, folder, '--out', out, '--score', '0.1', '--backend', 'cpu'], 120_000);
    expect(r.status).toBe(2);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('infer-det: /'));
    expect(errors).toEqual([
      expect.stringMatching(new RegExp(`^infer-det: ${join(folder, '000000000001.jpg')}: cannot read image \\(.+\\)$`)),
      expect.stringMatching(new RegExp(`^infer-det: ${join(folder, '000000000002.jpg')}: cannot read image \\(.+\\)$`)),
    ]);
    expect(r.stderr).toContain('infer-det: 2 of 4 image(s) could not be read; results.json holds the other 2\n');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { image_id: number }[];
    expect(results.length).toBeGreaterThan(0);
    expect(new Set(results.map((d) => d.image_id))).toEqual(new Set([42, 43]));
    expect(r.stdout).toMatch(/detections \(score >= 0.1\) on 2 image\(s\)/);
  });
});
