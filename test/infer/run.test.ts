import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import type { ImageDetections } from '../../src/infer/draw.js';
import { runInference, toCocoResults, type Detector } from '../../src/infer/run.js';

describe('toCocoResults', () => {
  it('writes xywh boxes and maps labels to category ids', () => {
    const det: ImageDetections = { boxes: Float32Array.of(1, 2, 11, 22), scores: Float32Array.of(0.5), labels: Int32Array.of(1) };
    expect(toCocoResults(7, det, [1, 3])).toEqual([{ image_id: 7, category_id: 3, bbox: [1, 2, 10, 20], score: 0.5 }]);
    expect(() => toCocoResults(7, { ...det, labels: Int32Array.of(2) }, [1, 3])).toThrow('label 2 has no category');
  });
});

describe('runInference', () => {
  const dir = mkdtempSync(join(tmpdir(), 'psdet-infer-'));
  const out = join(dir, 'out');
  beforeAll(async () => {
    // 40x20 and 30x60 (w x h) images, solid (255, 0, 128).
    const colour = { r: 255, g: 0, b: 128 };
    await sharp({ create: { width: 40, height: 20, channels: 3, background: colour } }).jpeg().toFile(join(dir, '000000000001.jpg'));
    await sharp({ create: { width: 30, height: 60, channels: 3, background: colour } }).png().toFile(join(dir, '000000000002.png'));
    writeFileSync(join(dir, 'broken.jpg'), 'not an image');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('batches, normalises, pads, maps boxes back to the original pixels and writes results and drawings', async () => {
    const cfg = defaultConfig();
    cfg.input.testMinSize = 32;
    cfg.input.maxSize = 64;
    const seen: { shape: number[]; sizes: [number, number][]; first: number[]; pad: number[] }[] = [];
    const detector: Detector = {
      async detect(images, imageSizes) {
        const data = await images.data();
        // Pixel (0, 0) of image 0 and the last pixel of image 1 (padding: image 1 is 64 x 32 inside 64 x 64).
        seen.push({ shape: images.shape, sizes: imageSizes, first: Array.from(data.subarray(0, 3)), pad: Array.from(data.subarray(data.length - 3)) });
        return imageSizes.map(() => ({
          boxes: Float32Array.of(8, 4, 24, 16, 0, 0, 4, 4),
          scores: Float32Array.of(0.9, 0.1),
          labels: Int32Array.of(1, 0),
        }));
      },
    };
    const before = tf.memory().numTensors;
    const summary = await runInference(
      detector,
      [
        { path: join(dir, '000000000001.jpg'), imageId: 1 },
        { path: join(dir, '000000000002.png'), imageId: 2 },
      ],
      { input: cfg.input, batchSize: 2, scoreThreshold: 0.3, categories: { ids: [5, 9], names: ['five', 'nine'] }, outDir: out, draw: true },
    );
    expect(tf.memory().numTensors).toBe(before);
    // 40x20 -> shorter 20 -> 32, longer 40 * 32 / 20 = 64 <= 64: 32 x 64 (h x w); 30x60 -> 64 x 32. Padded 64 x 64.
    expect(seen[0]!.shape).toEqual([2, 64, 64, 3]);
    expect(seen[0]!.sizes).toEqual([[32, 64], [64, 32]]);
    // (255 / 255 - 0.485) / 0.229 = 2.2489; (0 - 0.456) / 0.224 = -2.0357; (128 / 255 - 0.406) / 0.225 = 0.4265
    // (JPEG may move a value by a level or two: 1 / 255 / 0.225 = 0.017 per level).
    expect(seen[0]!.first[0]).toBeCloseTo(2.2489, 3);
    expect(seen[0]!.first[1]).toBeCloseTo(-2.0357, 1);
    expect(seen[0]!.first[2]).toBeCloseTo(0.4265, 1);
    expect(seen[0]!.pad).toEqual([0, 0, 0]);
    // Image 1: 40 / 64 = 20 / 32 = 0.625 per axis: [8, 4, 24, 16] -> [5, 2.5, 15, 10] -> xywh [5, 2.5, 10, 7.5].
    // Image 2: 30 / 32 = 0.9375, 60 / 64 = 0.9375: [7.5, 3.75, 22.5, 15] -> xywh [7.5, 3.75, 15, 11.25].
    const expected = [
      { image_id: 1, category_id: 9, bbox: [5, 2.5, 10, 7.5], score: 0.9 },
      { image_id: 2, category_id: 9, bbox: [7.5, 3.75, 15, 11.25], score: 0.9 },
    ];
    expect(summary.results).toEqual(expected);
    expect(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'))).toEqual(expected);
    const drawnJpg = await sharp(join(out, '000000000001.jpg')).metadata();
    const drawnPng = await sharp(join(out, '000000000002.png')).metadata();
    expect([drawnJpg.format, drawnJpg.width, drawnJpg.height]).toEqual(['jpeg', 40, 20]);
    expect([drawnPng.format, drawnPng.width, drawnPng.height]).toEqual(['png', 30, 60]);
  });

  it('refuses to draw over its own input images', async () => {
    const detector: Detector = { detect: async () => [] };
    const run = runInference(detector, [{ path: join(dir, '000000000001.jpg'), imageId: 1 }], {
      input: defaultConfig().input,
      batchSize: 1,
      scoreThreshold: 0.3,
      categories: { ids: [1], names: ['a'] },
      outDir: dir,
      draw: true,
    });
    await expect(run).rejects.toThrow(`--out ${dir}: drawing would overwrite the input image ${join(dir, '000000000001.jpg')}; choose another directory`);
  });

  it('writes the results of the images it could read and names each one it could not', async () => {
    writeFileSync(join(dir, 'empty.jpg'), Buffer.alloc(0));
    const detector: Detector = {
      detect: async (_images, imageSizes) =>
        imageSizes.map(() => ({ boxes: Float32Array.of(0, 0, 16, 8), scores: Float32Array.of(0.9), labels: Int32Array.of(0) })),
    };
    const partial = join(dir, 'partial');
    const cfg = defaultConfig();
    cfg.input.testMinSize = 32;
    cfg.input.maxSize = 64;
    const summary = await runInference(
      detector,
      [
        { path: join(dir, 'broken.jpg'), imageId: 7 },
        { path: join(dir, '000000000001.jpg'), imageId: 1 },
        { path: join(dir, 'empty.jpg'), imageId: 8 },
      ],
      { input: cfg.input, batchSize: 2, scoreThreshold: 0.3, categories: { ids: [5], names: ['five'] }, outDir: partial, draw: true },
    );
    expect(summary.images).toBe(1);
    expect(summary.failures.map((f) => [f.imageId, f.path])).toEqual([
      [7, join(dir, 'broken.jpg')],
      [8, join(dir, 'empty.jpg')],
    ]);
    for (const f of summary.failures) {
      expect(f.message.split('\n')).toHaveLength(1);
      expect(f.message.startsWith(`${f.path}: cannot read image (`)).toBe(true);
    }
    // 40x20 shown at 64x32: scale 0.625 per axis; [0, 0, 16, 8] -> xywh [0, 0, 10, 5].
    const expected = [{ image_id: 1, category_id: 5, bbox: [0, 0, 10, 5], score: 0.9 }];
    expect(summary.results).toEqual(expected);
    expect(JSON.parse(readFileSync(join(partial, 'results.json'), 'utf8'))).toEqual(expected);
    expect(existsSync(join(partial, '000000000001.jpg'))).toBe(true);
    expect(existsSync(join(partial, 'broken.jpg'))).toBe(false);
  });
});
