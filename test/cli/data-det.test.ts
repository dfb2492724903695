import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { runCli, ROOT } from '../helpers.js';

describe('data-det show', () => {
  it('draws the ground truth of the first N images of a dataset named by its annotation file and image folder', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'psdet-show-')), 'drawn');
    // the embedded shapes set, named as any pair of paths
    const json = join(ROOT, 'data/shapes/annotations/instances_val2017.json');
    const images = join(ROOT, 'data/shapes/val2017');
    const r = runCli('data-det.ts', ['show', '--json', json, '--images', images, '--num', '2', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const gt = JSON.parse(readFileSync(json, 'utf8')) as { images: { id: number; file_name: string }[]; annotations: { image_id: number }[] };
    const firstTwo = [...gt.images].sort((a, b) => a.id - b.id).slice(0, 2);
    const boxes = gt.annotations.filter((a) => firstTwo.some((im) => im.id === a.image_id)).length;
    expect(r.stdout).toContain(`drew ${boxes} boxes on 2 image(s)`);
    expect(readdirSync(out).sort()).toEqual(firstTwo.map((im) => im.file_name.replace(/\.\w+$/, '.png')).sort());
    const meta = await sharp(join(out, readdirSync(out)[0]!)).metadata();
    expect([meta.width, meta.height]).toEqual([128, 128]);
  }, 120_000);

  it('exits 2 with one line when --json comes without --images', () => {
    const r = runCli('data-det.ts', ['show', '--json', 'x.json', '--out', join(tmpdir(), 'never')]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe('data-det: --json and --images go together (an annotation file and its image folder)');
  });
});
