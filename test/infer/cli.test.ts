import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers.js';
import { writeTinyCheckpoint } from './tiny-checkpoint.js';

/** infer-det on the cpu backend. */
function inferDet(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return runCli('infer-det.ts', [...args, '--backend', 'cpu'], 120_000);
}

describe('infer-det', () => {
  const work = mkdtempSync(join(tmpdir(), 'psdet-cli-'));
  const ckpt = join(work, 'checkpoints', 'model_0000001');
  const images = join(work, 'images');

  beforeAll(async () => {
    await writeTinyCheckpoint(work);
    mkdirSync(images);
    await sharp({ create: { width: 120, height: 80, channels: 3, background: { r: 200, g: 30, b: 60 } } }).jpeg().toFile(join(images, '000000000042.jpg'));
    await sharp({ create: { width: 60, height: 90, channels: 3, background: { r: 20, g: 130, b: 200 } } }).png().toFile(join(images, '000000000043.png'));
    writeFileSync(join(work, 'broken.jpg'), 'this is not a JPEG');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('writes COCO results and drawn images for a directory of images', () => {
    const out = join(work, 'out');
    const r = inferDet(work, images, '--out', out, '--score', '0.1', '--batch', '2');
    expect(r.stderr).toContain('infer-det: checkpoint');
    expect(r.status).toBe(0);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { image_id: number; category_id: number; bbox: number[]; score: number }[];
    expect(results.length).toBeGreaterThan(0);
    for (const d of results) {
      expect([42, 43]).toContain(d.image_id);
      expect(d.category_id).toBeGreaterThanOrEqual(1);
      expect(d.category_id).toBeLessThanOrEqual(90);
      expect(d.score).toBeGreaterThanOrEqual(0.1);
      expect(d.bbox).toHaveLength(4);
      expect(d.bbox[2]).toBeGreaterThanOrEqual(0);
    }
    expect(existsSync(join(out, '000000000042.jpg'))).toBe(true);
    expect(existsSync(join(out, '000000000043.png'))).toBe(true);
    expect(r.stdout).toMatch(/detections \(score >= 0.1\) on 2 image\(s\)/);
  });

  it('--max-dets keeps the best N detections per image, in results.json and in the drawings', () => {
    const all = inferDet(work, images, '--out', join(work, 'out-all'), '--score', '0', '--no-draw');
    const capped = inferDet(work, images, '--out', join(work, 'out-capped'), '--score', '0', '--max-dets', '2');
    expect([all.status, capped.status]).toEqual([0, 0]);
    type R = { image_id: number; score: number };
    const read = (dir: string): R[] => JSON.parse(readFileSync(join(work, dir, 'results.json'), 'utf8')) as R[];
    for (const id of [42, 43]) {
      const every = read('out-all').filter((d) => d.image_id === id).map((d) => d.score).sort((x, y) => y - x);
      const kept = read('out-capped').filter((d) => d.image_id === id).map((d) => d.score).sort((x, y) => y - x);
      expect(every.length).toBeGreaterThan(2);
      expect(kept).toEqual(every.slice(0, 2));
    }
    expect(capped.stdout).toMatch(/score >= 0, at most 2 per image\) on 2 image\(s\)/);
  });

  it('export-det writes a deploy model that infer-det runs to the same results as the checkpoint', () => {
    const deploy = join(work, 'deploy');
    const exported = runCli('export-det.ts', [ckpt, '--out', deploy], 120_000);
    expect(exported.stderr).toBe('');
    expect(exported.status).toBe(0);
    expect(exported.stdout).toContain('model.safetensors');
    const fromCheckpoint = inferDet(ckpt, images, '--out', join(work, 'out-ckpt'), '--score', '0.1', '--no-draw');
    const fromDeploy = inferDet(deploy, images, '--out', join(work, 'out-deploy'), '--score', '0.1', '--no-draw');
    expect([fromCheckpoint.status, fromDeploy.status]).toEqual([0, 0]);
    expect(fromDeploy.stderr).toContain('infer-det: deploy model');
    type R = { image_id: number; category_id: number; bbox: number[]; score: number };
    const a = JSON.parse(readFileSync(join(work, 'out-ckpt', 'results.json'), 'utf8')) as R[];
    const b = JSON.parse(readFileSync(join(work, 'out-deploy', 'results.json'), 'utf8')) as R[];
    expect(a.length).toBeGreaterThan(0);
    expect(b.map((d) => [d.image_id, d.category_id])).toEqual(a.map((d) => [d.image_id, d.category_id]));
    b.forEach((d, i) => {
      expect(Math.abs(d.score - a[i]!.score)).toBeLessThan(1e-4);
      d.bbox.forEach((v, j) => expect(Math.abs(v - a[i]!.bbox[j]!)).toBeLessThan(1e-2));
    });
    expect(existsSync(join(work, 'out-deploy', '000000000042.jpg'))).toBe(false);
  });

  it('exits 2 with one line naming a missing checkpoint, an incompatible config and an unreadable image', () => {
    const missing = inferDet(join(work, 'nope'), images, '--out', join(work, 'o1'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe(`infer-det: ${join(work, 'nope')}: checkpoint not found\n`);

    const incompatible = inferDet(ckpt, images, '--out', join(work, 'o2'), '--set', 'model.numClasses=5');
    expect(incompatible.status).toBe(2);
    expect(incompatible.stderr.trim().split('\n')).toHaveLength(1);
    expect(incompatible.stderr).toMatch(/model\.safetensors: tensor "head\.cls\.logits\.\w+" has shape .* does not match these weights/);

    const broken = inferDet(ckpt, join(work, 'broken.jpg'), '--out', join(work, 'o3'));
    expect(broken.status).toBe(2);
    // After the two status lines (backend, model), the error: one line naming the file, and the count.
    expect(broken.stderr.split('\n').slice(2)).toEqual([
      expect.stringMatching(new RegExp(`^infer-det: ${join(work, 'broken.jpg')}: cannot read image \\(.+\\)$`)),
      'infer-det: none of the 1 image(s) could be read; results.json is empty',
      '',
    ]);
    expect(JSON.parse(readFileSync(join(work, 'o3', 'results.json'), 'utf8'))).toEqual([]);

    const badFlag = inferDet(ckpt, images, '--out', join(work, 'o4'), '--score', '2');
    expect(badFlag.status).toBe(2);
    expect(badFlag.stderr).toContain('--score must be a number in 0..1, got "2"');
  });
});
