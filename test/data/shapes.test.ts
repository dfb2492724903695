import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { CocoDataset, cocoSplitPaths } from '../../src/data/coco.js';
import { DataLoader } from '../../src/data/loader.js';
import { DEFAULT_SHAPES_OPTIONS, SHAPE_CLASSES, ensureShapesDataset, randomScene, sceneSvg, type ShapesOptions } from '../../src/data/shapes.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { tempDir } from './fixtures.js';

const SMALL: Partial<ShapesOptions> = { trainImages: 12, valImages: 4 };

describe('shapes dataset', () => {
  it('is generated in COCO layout once, deterministically, and read by CocoDataset', async () => {
    const dirA = join(tempDir('psdet-shapes-'), 'shapes');
    const dirB = join(tempDir('psdet-shapes-'), 'shapes');
    const rootA = await ensureShapesDataset(dirA, SMALL);
    const rootB = await ensureShapesDataset(dirB, SMALL);
    for (const split of ['train2017', 'val2017']) {
      const a = cocoSplitPaths(rootA, split);
      const b = cocoSplitPaths(rootB, split);
      expect(readFileSync(a.annotationFile, 'utf8')).toBe(readFileSync(b.annotationFile, 'utf8'));
      const files = readdirSync(a.imageDir).sort();
      expect(files).toHaveLength(split === 'train2017' ? 12 : 4);
      for (const f of files) expect(readFileSync(join(a.imageDir, f)).equals(readFileSync(join(b.imageDir, f)))).toBe(true);
    }
    const paths = cocoSplitPaths(rootA, 'train2017');
    const ds = CocoDataset.load(paths.annotationFile, paths.imageDir, { forTraining: true });
    const meta = await sharp(join(paths.imageDir, ds.images[0]!.fileName)).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', 128, 128, 3]);
    expect(ds.classNames).toEqual([...SHAPE_CLASSES]);
    expect(ds.images).toHaveLength(12);
    expect(ds.stats.degenerateDropped).toBe(0);
    expect(ds.stats.emptySkipped).toBe(0);
    // a second call finds it and does not regenerate (the file keeps its time stamp)
    const before = readFileSync(join(rootA, 'shapes.json'), 'utf8');
    const t = Date.now();
    await ensureShapesDataset(dirA, SMALL);
    expect(Date.now() - t).toBeLessThan(200);
    expect(readFileSync(join(rootA, 'shapes.json'), 'utf8')).toBe(before);
    // other options: regenerated
    await ensureShapesDataset(dirA, { ...SMALL, valImages: 2 });
    expect(readdirSync(join(rootA, 'val2017'))).toHaveLength(2);
    // the loader reads it like any COCO set
    const loader = new DataLoader(ds, {
      batchSize: 4,
      seed: 0,
      minSizes: [128],
      maxSize: 128,
      sizeDivisor: 32,
      flipProbability: 0.5,
      shuffle: true,
      aspectGrouping: true,
      prefetch: 1,
      workers: 0,
      skipBadImages: false,
    });
    const batch = await loader.next();
    expect(batch.samples).toHaveLength(4);
    expect([batch.paddedWidth, batch.paddedHeight]).toEqual([128, 128]);
    await loader.close();
  });

  it('refuses to overwrite a directory it did not make', async () => {
    const dir = join(tempDir('psdet-shapes-'), 'mine');
    mkdirSync(dir);
    writeFileSync(join(dir, 'precious.txt'), 'x');
    await expect(ensureShapesDataset(dir, SMALL)).rejects.toThrow(InputError);
    expect(existsSync(join(dir, 'precious.txt'))).toBe(true);
  });

  it('draws 1..4 objects of 16..80 px inside the image, overlapping at most a quarter of the smaller box', () => {
    const rng = new Rng(3);
    const counts = new Set<number>();
    const classes = new Set<string>();
    let overlapping = 0;
    for (let k = 0; k < 300; k++) {
      const scene = randomScene(rng, DEFAULT_SHAPES_OPTIONS);
      counts.add(scene.objects.length);
      scene.objects.forEach((o, i) => {
        classes.add(o.cls);
        expect(o.size).toBeGreaterThanOrEqual(16);
        expect(o.size).toBeLessThanOrEqual(80);
        expect(o.x).toBeGreaterThanOrEqual(0);
        expect(o.x + o.size).toBeLessThanOrEqual(128);
        expect(o.y + o.size).toBeLessThanOrEqual(128);
        for (const p of scene.objects.slice(i + 1)) {
          const iw = Math.max(0, Math.min(o.x + o.size, p.x + p.size) - Math.max(o.x, p.x));
          const ih = Math.max(0, Math.min(o.y + o.size, p.y + p.size) - Math.max(o.y, p.y));
          if (iw * ih > 0) overlapping++;
          expect(iw * ih).toBeLessThanOrEqual(0.25 * Math.min(o.size, p.size) ** 2);
        }
      });
    }
    expect([...counts].sort()).toEqual([1, 2, 3, 4]);
    expect(classes.size).toBe(3);
    expect(overlapping).toBeGreaterThan(10); // some overlap happens
  });

  it('draws each shape exactly inside its box: rendered coverage spans the box edge to edge', async () => {
    const rng = new Rng(11);
    let checked = 0;
    for (let k = 0; k < 6; k++) {
      const scene = randomScene(rng, DEFAULT_SHAPES_OPTIONS);
      for (let i = 0; i < scene.objects.length; i++) {
        const o = scene.objects[i]!;
        const { data } = await sharp(Buffer.from(sceneSvg(scene, i))).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
        let x0 = 128;
        let y0 = 128;
        let x1 = -1;
        let y1 = -1;
        for (let y = 0; y < 128; y++) {
          for (let x = 0; x < 128; x++) {
            if (data[(y * 128 + x) * 4 + 3]! > 0) {
              x0 = Math.min(x0, x);
              y0 = Math.min(y0, y);
              x1 = Math.max(x1, x);
              y1 = Math.max(y1, y);
            }
          }
        }
        // pixels x0..x1 covered <=> the box [x0, x1 + 1); the triangle's apex may cover under 1/255 of its pixel
        expect(x0).toBe(o.x);
        expect(x1 + 1).toBe(o.x + o.size);
        expect(y1 + 1).toBe(o.y + o.size);
        expect(Math.abs(y0 - o.y)).toBeLessThanOrEqual(o.cls === 'triangle' ? 1 : 0);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(6);
  });
});
