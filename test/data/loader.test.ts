import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { CocoDataset } from '../../src/data/coco.js';
import { batchToTensor } from '../../src/data/tensor.js';
import { BatchPlanner, DataLoader, type BadImageWarning, type LoaderOptions, type LoaderState } from '../../src/data/loader.js';
import type { DecodedImage, DecodeRequest } from '../../src/data/transforms.js';
import type { Batch } from '../../src/data/types.js';
import { InputError } from '../../src/util/errors.js';
import { COCO_MINI, cocoMiniSkip } from '../helpers.js';
import { solidImage, tempDir, writeCoco } from './fixtures.js';

/** 10 small images: ids 1..10, odd ids landscape 48x32, even ids portrait 32x48, each a distinct grey. */
async function makeSet(): Promise<{ root: string; file: string; imageDir: string }> {
  const root = tempDir('psdet-loader-');
  const images = [];
  const annotations = [];
  for (let id = 1; id <= 10; id++) {
    const [w, h] = id % 2 === 1 ? [48, 32] : [32, 48];
    images.push({ id, file_name: `${id}.png`, width: w, height: h });
    annotations.push({ id: 100 + id, image_id: id, category_id: 1, bbox: [2, 4, 10, 12], iscrowd: 0 });
  }
  const file = writeCoco(root, 'train2017', { images, annotations, categories: [{ id: 1, name: 'thing' }] });
  const imageDir = join(root, 'train2017');
  for (const im of images) await solidImage(join(imageDir, im.file_name), im.width, im.height, [im.id * 20, im.id * 20, im.id * 20], 'png');
  return { root, file, imageDir };
}

const BASE: LoaderOptions = {
  batchSize: 2,
  seed: 5,
  minSizes: [32, 48, 64],
  maxSize: 200,
  sizeDivisor: 32,
  flipProbability: 0.5,
  shuffle: true,
  aspectGrouping: true,
  prefetch: 2,
  workers: 0,
  skipBadImages: false,
};

/** What identifies a batch: image ids, sizes and flips. */
function describeBatch(b: Batch): string {
  return b.samples.map((s) => `${s.imageId}:${s.width}x${s.height}${s.flipped ? 'f' : ''}`).join(',') + `|${b.paddedWidth}x${b.paddedHeight}`;
}

async function take(loader: DataLoader, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(describeBatch(await loader.next()));
  return out;
}

describe('BatchPlanner', () => {
  const portrait = Uint8Array.from({ length: 10 }, (_, i) => ((i + 1) % 2 === 0 ? 1 : 0));

  it('groups by aspect, uses every image once per epoch and carries partial buckets over', () => {
    const p = new BatchPlanner(portrait, { ...BASE, batchSize: 3 });
    // 5 landscape + 5 portrait, batches of 3: epoch 0 makes 1 + 1 full batches and carries 2 + 2 images
    const first = [p.next(), p.next()];
    for (const b of first) {
      expect(b.indices).toHaveLength(3);
      expect(new Set(b.indices.map((i) => portrait[i])).size).toBe(1); // one aspect per batch
    }
    expect(p.state().epoch).toBe(1);
    expect(p.state().carry).toHaveLength(4);
    // over many batches, every image appears about equally often (no image dropped)
    const counts = new Array<number>(10).fill(0);
    for (let k = 0; k < 300; k++) for (const i of p.next().indices) counts[i]!++;
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(85); // 900 draws / 10 images = 90, +- carry
    expect(Math.max(...counts)).toBeLessThanOrEqual(95);
  });

  it('without shuffle or grouping gives the dataset order', () => {
    const p = new BatchPlanner(portrait, { ...BASE, batchSize: 4, shuffle: false, aspectGrouping: false, minSizes: [32] });
    expect([p.next().indices, p.next().indices]).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    // epoch 0 leaves [8, 9], carried to the front of epoch 1
    expect(p.next().indices).toEqual([8, 9, 0, 1]);
  });

  it('draws sizes from the list and flips with the given probability', () => {
    const p = new BatchPlanner(portrait, { ...BASE, batchSize: 1, flipProbability: 0.5 });
    const sizes = new Set<number>();
    let flips = 0;
    for (let k = 0; k < 400; k++) {
      const b = p.next();
      sizes.add(b.minSize);
      flips += b.flips[0] ? 1 : 0;
    }
    expect([...sizes].sort((a, b) => a - b)).toEqual([32, 48, 64]);
    expect(flips).toBeGreaterThan(160); // binomial(400, 0.5): mean 200, sd 10
    expect(flips).toBeLessThan(240);
    const never = new BatchPlanner(portrait, { ...BASE, flipProbability: 0 });
    expect(never.next().flips).toEqual([false, false]);
  });
});

describe('DataLoader', async () => {
  const set = await makeSet();
  const dataset = CocoDataset.load(set.file, set.imageDir, { forTraining: true });
  const loaders: DataLoader[] = [];
  const open = (opts: Partial<LoaderOptions> = {}): DataLoader => {
    const l = new DataLoader(dataset, { ...BASE, ...opts });
    loaders.push(l);
    return l;
  };
  afterAll(async () => {
    await Promise.all(loaders.map((l) => l.close()));
  });

  it('is deterministic for a seed, and another seed gives another order', async () => {
    const a = await take(open(), 12);
    const b = await take(open(), 12);
    const c = await take(open({ seed: 6 }), 12);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    // batches are grouped by aspect and padded to a multiple of 32
    for (const line of a) {
      const ids = line.split('|')[0]!.split(',').map((s) => Number(s.split(':')[0]));
      expect(new Set(ids.map((id) => id % 2)).size).toBe(1);
      const [pw, ph] = line.split('|')[1]!.split('x').map(Number);
      expect(pw! % 32).toBe(0);
      expect(ph! % 32).toBe(0);
    }
  });

  it('restores a saved position exactly, with batches prefetched past it', async () => {
    const reference = await take(open(), 14);
    const loader = open({ prefetch: 3 });
    await take(loader, 6);
    const saved: LoaderState = JSON.parse(JSON.stringify(loader.state())) as LoaderState;
    // carry on with the same loader: exactly the reference from batch 6 on
    expect(await take(loader, 4)).toEqual(reference.slice(6, 10));
    // a fresh loader (different worker setup, too) restored from the saved state replays batches 6..13
    const resumed = open({ prefetch: 1, workers: 2 });
    resumed.restore(saved);
    expect(await take(resumed, 8)).toEqual(reference.slice(6, 14));
    // and the first loader can be sent back as well
    loader.restore(saved);
    expect(await take(loader, 2)).toEqual(reference.slice(6, 8));
    expect(() => loader.restore({ epoch: -1, index: 0, carry: [], rng: [1, 2, 3, 4] })).toThrow(InputError);
  });

  it('gives the same batches with worker threads as on the main thread', async () => {
    const inline = await take(open({ workers: 0 }), 6);
    const threaded = open({ workers: 2 });
    expect(await take(threaded, 6)).toEqual(inline);
    const s = (await threaded.next()).samples[0]!;
    expect(s.pixels).toBeInstanceOf(Uint8Array);
    // stored-size pixels (resized on the tensor side): the stored size is the annotation's
    expect([s.decodedWidth, s.decodedHeight]).toEqual([s.originalWidth, s.originalHeight]);
    expect(s.pixels.length).toBe(s.decodedWidth * s.decodedHeight * 3);
  });

  it('with a normalisation, worker threads make the normalised floats and batchToTensor gives the same input', async () => {
    const norm = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
    const [plain] = await Promise.all([open({ workers: 0 }).next()]);
    const prepared = await open({ workers: 2, normalise: norm }).next();
    expect(describeBatch(prepared)).toBe(describeBatch(plain));
    expect(plain.samples[0]!.input).toBeUndefined();
    const s = prepared.samples[0]!;
    expect(s.input!.floats).toHaveLength(s.decodedWidth * s.decodedHeight * 3);
    const a = batchToTensor(plain, norm.mean, norm.std);
    const b = batchToTensor(prepared, norm.mean, norm.std);
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    tf.dispose([a, b]);
  });

  it('decodes `prefetch` batches ahead while the caller works on the current one', async () => {
    // A decoder that only records what was asked of it and answers with a 1x1 image.
    const asked: string[] = [];
    const decoder = {
      decode: async (req: DecodeRequest): Promise<DecodedImage> => {
        asked.push(req.path);
        return { pixels: new Uint8Array(3), decodedHeight: 1, decodedWidth: 1, height: 1, width: 1, originalHeight: 1, originalWidth: 1, flipped: req.flip };
      },
      close: async (): Promise<void> => undefined,
    };
    const loader = new DataLoader(dataset, { ...BASE, batchSize: 2, prefetch: 3, decoder });
    await loader.next();
    // the batch returned plus 3 ahead, 2 images each
    expect(asked).toHaveLength(8);
    await loader.next();
    expect(asked).toHaveLength(10); // one more batch ahead
    const none = new DataLoader(dataset, { ...BASE, batchSize: 2, prefetch: 0, decoder });
    asked.length = 0;
    await none.next();
    expect(asked).toHaveLength(2);
    await loader.close(); // does not close an injected decoder
  });

  it('iterates once in order for evaluation, unflipped, at testMinSize, the last batch smaller', async () => {
    const evalSet = CocoDataset.load(set.file, set.imageDir, { forTraining: false });
    const loader = new DataLoader(evalSet, { ...BASE, batchSize: 4, testMinSize: 64, flipProbability: 1 });
    loaders.push(loader);
    const seen: string[] = [];
    for await (const b of loader.batches()) seen.push(describeBatch(b));
    // ids 1..10 in order; landscape 48x32 -> 96x64, portrait 32x48 -> 64x96; padded to 96x96 (mixed) or 96x64
    expect(seen).toEqual([
      '1:96x64,2:64x96,3:96x64,4:64x96|96x96',
      '5:96x64,6:64x96,7:96x64,8:64x96|96x96',
      '9:96x64,10:64x96|96x96',
    ]);
  });

  it('fails with the file named on a bad image, or skips it with a warning when asked', async () => {
    const root = tempDir('psdet-bad-');
    const images = [1, 2, 3, 4].map((id) => ({ id, file_name: `${id}.png`, width: 40, height: 30 }));
    const file = writeCoco(root, 'val2017', {
      images,
      annotations: images.map((im) => ({ id: im.id, image_id: im.id, category_id: 1, bbox: [1, 1, 5, 5] })),
      categories: [{ id: 1, name: 'thing' }],
    });
    const dir = join(root, 'val2017');
    await solidImage(join(dir, '1.png'), 40, 30, [1, 2, 3], 'png');
    writeFileSync(join(dir, '2.png'), 'not a png'); // corrupt
    // 3.png missing
    await solidImage(join(dir, '4.png'), 40, 30, [1, 2, 3], 'png');
    const ds = CocoDataset.load(file, dir, { forTraining: false });
    const strict = new DataLoader(ds, { ...BASE, batchSize: 4, workers: 1 });
    loaders.push(strict);
    await expect(strict.next()).rejects.toThrow(InputError);
    await expect(strict.batches().next()).rejects.toThrow(/2\.png: cannot decode image/);
    const warned: BadImageWarning[] = [];
    const lenient = new DataLoader(ds, { ...BASE, batchSize: 4, skipBadImages: true, onWarning: (w) => warned.push(w), workers: 1 });
    loaders.push(lenient);
    const batches: Batch[] = [];
    for await (const b of lenient.batches()) batches.push(b);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.samples.map((s) => s.imageId)).toEqual([1, 4]);
    expect(lenient.badImageCount).toBe(2);
    expect(warned.map((w) => w.imageId)).toEqual([2, 3]);
    expect(warned[1]!.message).toBe(`${join(dir, '3.png')}: image file not found`);
    expect(lenient.warnings).toHaveLength(2);
  });
});

const COCO_MINI_SKIP = cocoMiniSkip();

describe.skipIf(COCO_MINI === null)(`DataLoader on coco-mini ${COCO_MINI_SKIP}`, () => {
  if (COCO_MINI === null) {
    // nothing to collect without the data; this skipped test carries the reason into the report
    it.skip(COCO_MINI_SKIP, () => undefined);
    return;
  }
  it('delivers 800/1333 batches from worker threads, padded to 32, boxes inside the images', async () => {
    const root = COCO_MINI!;
    const ds = CocoDataset.load(join(root, 'annotations/instances_train2017.json'), join(root, 'images/train2017'), { forTraining: true });
    const loader = new DataLoader(ds, { ...BASE, batchSize: 2, minSizes: [800], maxSize: 1333, workers: 2 });
    try {
      for (let k = 0; k < 3; k++) {
        const b = await loader.next();
        for (const s of b.samples) {
          expect(Math.min(s.width, s.height) === 800 || Math.max(s.width, s.height) === 1333).toBe(true);
          expect(s.width).toBeLessThanOrEqual(b.paddedWidth);
          expect(s.height).toBeLessThanOrEqual(b.paddedHeight);
          for (let i = 0; i < s.boxes.length; i += 4) {
            expect(s.boxes[i]!).toBeGreaterThanOrEqual(0);
            expect(s.boxes[i + 2]!).toBeLessThanOrEqual(s.width + 1e-3);
            expect(s.boxes[i + 3]!).toBeLessThanOrEqual(s.height + 1e-3);
          }
        }
        expect(b.paddedWidth % 32).toBe(0);
        expect(b.paddedHeight % 32).toBe(0);
      }
    } finally {
      await loader.close();
    }
  });
});

describe('loaderOptionsFromConfig', () => {
  it('takes training sizes, flips and grouping from the config, and none of them for evaluation', async () => {
    const { defaultConfig } = await import('../../src/config/defaults.js');
    const { loaderOptionsFromConfig } = await import('../../src/data/loader.js');
    const config = defaultConfig();
    config.input.trainMinSizes = [640, 800];
    config.input.testMinSize = 720;
    config.solver.batchSize = 4;
    config.data.workers = 3;
    config.data.skipBadImages = true;
    config.data.maxDecodePixels = 1000;
    const train = loaderOptionsFromConfig(config, true);
    expect(train).toMatchObject({ batchSize: 4, minSizes: [640, 800], maxSize: 1333, sizeDivisor: 32, flipProbability: 0.5, shuffle: true, aspectGrouping: true, prefetch: 2, workers: 3, skipBadImages: true, testMinSize: 720 });
    const val = loaderOptionsFromConfig(config, false);
    expect(val).toMatchObject({ minSizes: [720], flipProbability: 0, shuffle: false, aspectGrouping: false, testMinSize: 720 });
    // the decoder threads normalise with the config's mean and std (what batchToTensor is called with)
    expect(train.normalise).toEqual({ mean: config.input.pixelMean, std: config.input.pixelStd });
    // the decode limits reach the decoder (sharp's own input limit by default)
    expect(train.decodeLimits).toEqual({ maxDecodePixels: 1000, maxImagePixels: 0x3fff * 0x3fff });
    const { DEFAULT_MAX_DECODE_PIXELS, DEFAULT_MAX_IMAGE_PIXELS } = await import('../../src/data/transforms.js');
    expect(defaultConfig().data).toMatchObject({ maxDecodePixels: DEFAULT_MAX_DECODE_PIXELS, maxImagePixels: DEFAULT_MAX_IMAGE_PIXELS });
    // a copy, not the config's own array
    train.minSizes.push(1);
    expect(config.input.trainMinSizes).toEqual([640, 800]);
  });
});
