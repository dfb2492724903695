import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CocoDataset } from '../../src/data/coco.js';
import { WorkerDecoder } from '../../src/data/decoder.js';
import { DataLoader, type BadImageWarning, type LoaderOptions } from '../../src/data/loader.js';
import { batchToTensor } from '../../src/data/tensor.js';
import { decodeImage, type DecodeRequest } from '../../src/data/transforms.js';
import type { Batch } from '../../src/data/types.js';
import { InputError } from '../../src/util/errors.js';
import { solidImage, tempDir, writeCoco } from './fixtures.js';

const dir = tempDir();
const empty = join(dir, 'empty.jpg');
const solid = join(dir, 'solid.png');
const request = (path: string, width: number, height: number): DecodeRequest => ({ path, expectedWidth: width, expectedHeight: height, minSize: 40, maxSize: 1000, flip: false });

beforeAll(async () => {
  writeFileSync(empty, Buffer.alloc(0));
  // 100 x 80 (w x h), solid (10, 200, 30): any resize of it is the same colour, exactly.
  await solidImage(solid, 100, 80, [10, 200, 30], 'png');
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

describe('decodeImage faults', () => {
  it('a 0-byte file is an InputError naming it, on the main thread and from a worker', async () => {
    const inline = await rejection(decodeImage(request(empty, 10, 10)));
    expect(inline).toBeInstanceOf(InputError);
    expect(inline.message).toBe(`${empty}: cannot decode image (empty file, 0 bytes)`);
    const pool = new WorkerDecoder(1);
    try {
      const fromWorker = await rejection(pool.decode(request(empty, 10, 10)));
      expect(fromWorker).toBeInstanceOf(InputError);
      expect(fromWorker.message).toBe(inline.message);
    } finally {
      await pool.close();
    }
  });

  it('an image above maxDecodePixels is shrunk while decoding, straight to its target size', async () => {
    // 80 -> 40 on the shorter side: target 50 x 40 (w x h).
    const full = await decodeImage(request(solid, 100, 80));
    expect([full.decodedWidth, full.decodedHeight, full.width, full.height]).toEqual([100, 80, 50, 40]);
    const shrunk = await decodeImage({ ...request(solid, 100, 80), maxDecodePixels: 100 * 80 - 1 });
    expect([shrunk.decodedWidth, shrunk.decodedHeight, shrunk.width, shrunk.height]).toEqual([50, 40, 50, 40]);
    expect([shrunk.originalWidth, shrunk.originalHeight]).toEqual([100, 80]);
    expect(shrunk.pixels).toHaveLength(50 * 40 * 3);
    expect(new Set(shrunk.pixels.filter((_, i) => i % 3 === 1))).toEqual(new Set([200]));
    // Both paths give the same network input for a solid image: (200 / 255 - 0.456) / 0.224 in the green channel.
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const tensorOf = (d: typeof full): number[] => {
      const batch: Batch = {
        samples: [{ ...d, imageId: 1, scaleX: 0.5, scaleY: 0.5, boxes: new Float32Array(0), labels: new Int32Array(0), crowdBoxes: new Float32Array(0) }],
        paddedHeight: 40,
        paddedWidth: 50,
      };
      const t = batchToTensor(batch, mean, std);
      const values = Array.from(t.dataSync());
      t.dispose();
      return values;
    };
    const a = tensorOf(full);
    const b = tensorOf(shrunk);
    expect(b).toHaveLength(a.length);
    expect(b[1]).toBeCloseTo((200 / 255 - 0.456) / 0.224, 5);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-5);
  });

  it('an image above maxImagePixels is refused before it is decoded, naming the file and the limit', async () => {
    const err = await rejection(decodeImage({ ...request(solid, 100, 80), maxImagePixels: 5000 }));
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toBe(`${solid}: image is 100x80 (w x h), more than the 5000 pixels allowed (maxImagePixels)`);
  });
});

describe('DataLoader --skip-bad-images', () => {
  const root = tempDir();
  const loaders: DataLoader[] = [];
  afterAll(async () => {
    for (const l of loaders) await l.close();
  });

  it('skips a 0-byte JPEG with a warning naming it, and keeps the good image', async () => {
    const file = writeCoco(root, 'train2017', {
      images: [
        { id: 1, file_name: 'good.png', width: 100, height: 80 },
        { id: 2, file_name: 'empty.jpg', width: 64, height: 48 },
      ],
      annotations: [
        { id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400 },
        { id: 2, image_id: 2, category_id: 1, bbox: [5, 5, 20, 20], area: 400 },
      ],
      categories: [{ id: 1, name: 'thing' }],
    });
    await solidImage(join(root, 'train2017', 'good.png'), 100, 80, [1, 2, 3], 'png');
    writeFileSync(join(root, 'train2017', 'empty.jpg'), Buffer.alloc(0));
    const ds = CocoDataset.load(file, join(root, 'train2017'), { forTraining: false });
    const warned: BadImageWarning[] = [];
    const opts: LoaderOptions = {
      batchSize: 2,
      seed: 0,
      minSizes: [40],
      maxSize: 1000,
      sizeDivisor: 1,
      flipProbability: 0,
      shuffle: false,
      aspectGrouping: false,
      prefetch: 0,
      workers: 1,
      skipBadImages: true,
      onWarning: (w) => warned.push(w),
    };
    const loader = new DataLoader(ds, opts);
    loaders.push(loader);
    const batches: Batch[] = [];
    for await (const b of loader.batches()) batches.push(b);
    expect(batches.map((b) => b.samples.map((s) => s.imageId))).toEqual([[1]]);
    expect(warned).toEqual([{ imageId: 2, path: join(root, 'train2017', 'empty.jpg'), message: `${join(root, 'train2017', 'empty.jpg')}: cannot decode image (empty file, 0 bytes)` }]);
  });
});

describe('an 8000 x 8000 image', () => {
  it('decodes to its network size, not to 192 MB of pixels', async () => {
    const big = join(dir, 'big.jpg');
    await sharp({ create: { width: 8000, height: 8000, channels: 3, background: { r: 90, g: 90, b: 90 } } }).jpeg().toFile(big);
    const d = await decodeImage({ ...request(big, 8000, 8000), minSize: 800, maxSize: 1333 });
    expect([d.decodedWidth, d.decodedHeight, d.width, d.height]).toEqual([800, 800, 800, 800]);
    expect(d.pixels.byteLength).toBe(800 * 800 * 3);
  });
});
