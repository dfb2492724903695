import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { normalisationTable, normalisedFloats } from '../../src/data/normalise.js';
import { batchToTensor } from '../../src/data/tensor.js';
import { decodeImage } from '../../src/data/transforms.js';
import type { Batch, Sample } from '../../src/data/types.js';
import { tempDir } from './fixtures.js';

const MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const STD: [number, number, number] = [0.229, 0.224, 0.225];

/** A sample of stored size height x width, resized to `resized` (default: kept) and maybe flipped. */
function sample(
  imageId: number,
  height: number,
  width: number,
  fill: (y: number, x: number, c: number) => number,
  resized: { height: number; width: number } = { height, width },
  flipped = false,
): Sample {
  const pixels = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) pixels[(y * width + x) * 3 + c] = fill(y, x, c);
  return {
    imageId,
    pixels,
    decodedHeight: height,
    decodedWidth: width,
    height: resized.height,
    width: resized.width,
    originalHeight: height,
    originalWidth: width,
    scaleX: resized.width / width,
    scaleY: resized.height / height,
    flipped,
    boxes: new Float32Array(0),
    labels: new Int32Array(0),
    crowdBoxes: new Float32Array(0),
  };
}

describe('batchToTensor', () => {
  it('normalises (x / 255 - mean) / std and pads with zeros after normalisation', async () => {
    const a = sample(1, 2, 3, (y, x, c) => (c === 0 ? 255 : c === 1 ? 0 : 10 * (y * 3 + x)));
    const b = sample(2, 3, 1, () => 128);
    const batch: Batch = { samples: [a, b], paddedHeight: 4, paddedWidth: 4 };
    const t = batchToTensor(batch, MEAN, STD);
    expect(t.shape).toEqual([2, 4, 4, 3]);
    expect(t.dtype).toBe('float32');
    const v = (await t.array()) as number[][][][];
    // R = 255: (1 - 0.485) / 0.229 = 2.248908; G = 0: -0.456 / 0.224 = -2.035714
    expect(v[0]![0]![0]![0]).toBeCloseTo(2.248908, 5);
    expect(v[0]![1]![2]![1]).toBeCloseTo(-2.035714, 5);
    // B at (y=1, x=2) = 50: (50 / 255 - 0.406) / 0.225 = (0.196078 - 0.406) / 0.225 = -0.932985
    expect(v[0]![1]![2]![2]).toBeCloseTo(-0.932985, 5);
    // 128 in R: (0.501961 - 0.485) / 0.229 = 0.074065
    expect(v[1]![2]![0]![0]).toBeCloseTo(0.074065, 5);
    // padding: rows 2..3 of sample a, columns 1..3 of sample b, row 3 of b: exactly 0
    for (const [n, y, x] of [[0, 2, 0], [0, 3, 3], [0, 0, 3], [1, 0, 1], [1, 2, 3], [1, 3, 0]] as const) {
      expect(v[n]![y]![x]).toEqual([0, 0, 0]);
    }
    // every value against a plain reference
    for (let n = 0; n < 2; n++) {
      const s = batch.samples[n]!;
      for (let y = 0; y < 4; y++) {
        for (let x = 0; x < 4; x++) {
          for (let c = 0; c < 3; c++) {
            const inside = y < s.height && x < s.width;
            const ref = inside ? (s.pixels[(y * s.width + x) * 3 + c]! / 255 - MEAN[c]!) / STD[c]! : 0;
            expect(v[n]![y]![x]![c]).toBeCloseTo(ref, 5);
          }
        }
      }
    }
    t.dispose();
  });

  it('handles a full-width sample (contiguous copy) and rejects a sample larger than the padding', () => {
    const a = sample(1, 2, 4, (y, x) => y * 4 + x);
    const t = batchToTensor({ samples: [a], paddedHeight: 3, paddedWidth: 4 }, [0, 0, 0], [1, 1, 1]);
    // mean 0, std 1: x / 255
    const d = t.dataSync();
    expect(d[(1 * 4 + 3) * 3]).toBeCloseTo(7 / 255, 6);
    expect(d[(2 * 4 + 0) * 3]).toBe(0);
    t.dispose();
    expect(() => batchToTensor({ samples: [a], paddedHeight: 2, paddedWidth: 3 }, MEAN, STD)).toThrow(/larger than the padded/);
    expect(() => batchToTensor({ samples: [], paddedHeight: 2, paddedWidth: 3 }, MEAN, STD)).toThrow(/empty batch/);
  });

  it('flips by mirroring columns exactly (no resize), in the padded layout', async () => {
    // 3 wide, 2 high: R = 10 x + 100 y; flipped, column x holds stored column 2 - x; mean 0, std 1/255: out = pixel
    const a = sample(1, 2, 3, (y, x, c) => (c === 0 ? 10 * x + 100 * y : 7), undefined, true);
    const t = batchToTensor({ samples: [a], paddedHeight: 2, paddedWidth: 4 }, [0, 0, 0], [1 / 255, 1 / 255, 1 / 255]);
    const v = (await t.array()) as number[][][][];
    expect(v[0]!.map((row) => row.map((px) => px[0]))).toEqual([
      [20, 10, 0, 0],
      [120, 110, 100, 0],
    ]);
    t.dispose();
  });

  it('resizes each sample to its own target size before padding (constant image stays constant)', async () => {
    // a constant image resizes to the same constant at any size: 4x3 -> 9x7 and 5x6 -> 2x3, padded to 10x12
    const a = sample(1, 3, 4, () => 51, { height: 7, width: 9 });
    const b = sample(2, 6, 5, () => 255, { height: 3, width: 2 }, true);
    const t = batchToTensor({ samples: [a, b], paddedHeight: 10, paddedWidth: 12 }, [0, 0, 0], [1, 1, 1]);
    expect(t.shape).toEqual([2, 10, 12, 3]);
    const v = (await t.array()) as number[][][][];
    for (let n = 0; n < 2; n++) {
      const s = [a, b][n]!;
      const inside = n === 0 ? 51 / 255 : 1; // mean 0, std 1: pixel / 255
      for (let y = 0; y < 10; y++) {
        for (let x = 0; x < 12; x++) {
          const want = y < s.height && x < s.width ? inside : 0;
          for (const got of v[n]![y]![x]!) expect(got).toBeCloseTo(want, 6);
        }
      }
    }
    t.dispose();
  });

  it('resizes a run of same-size samples as one group, each as it would alone, in batch order', async () => {
    // three 5x4 samples enlarged to 9x7 (one flipped) then a 3x3 kept as is: runs [a, b, c] and [d]
    const ramp = (k: number) => (y: number, x: number, c: number) => (k * 40 + y * 30 + x * 11 + c * 5) % 256;
    const target = { height: 9, width: 7 };
    const samples = [sample(1, 5, 4, ramp(1), target), sample(2, 5, 4, ramp(2), target, true), sample(3, 5, 4, ramp(3), target), sample(4, 3, 3, ramp(4))];
    const together = batchToTensor({ samples, paddedHeight: 12, paddedWidth: 8 }, MEAN, STD);
    const got = (await together.array()) as number[][][][];
    together.dispose();
    for (let n = 0; n < samples.length; n++) {
      const alone = batchToTensor({ samples: [samples[n]!], paddedHeight: 12, paddedWidth: 8 }, MEAN, STD);
      const want = ((await alone.array()) as number[][][][])[0]!;
      alone.dispose();
      expect(got[n]).toEqual(want);
    }
  });

  it('uses the decoder-made normalised floats when their mean and std match, and recomputes otherwise', async () => {
    const a = sample(1, 2, 3, (y, x, c) => 20 * x + 5 * y + c, { height: 4, width: 5 }, true);
    const plain = batchToTensor({ samples: [a], paddedHeight: 4, paddedWidth: 8 }, MEAN, STD);
    const expected = Array.from(await plain.data());
    plain.dispose();
    // floats as a decoder thread makes them: the same values through batchToTensor
    const floats = normalisedFloats(a.pixels, 2, 3, true, normalisationTable({ mean: MEAN, std: STD }));
    const withInput = { ...a, input: { floats, normalisation: { mean: MEAN.slice(), std: STD.slice() } } };
    const t = batchToTensor({ samples: [withInput], paddedHeight: 4, paddedWidth: 8 }, MEAN, STD);
    expect(Array.from(await t.data())).toEqual(expected);
    t.dispose();
    // floats made with another normalisation are not used: zeros in them would show otherwise
    const stale = { ...a, input: { floats: new Float32Array(floats.length), normalisation: { mean: [0, 0, 0], std: [1, 1, 1] } } };
    const u = batchToTensor({ samples: [stale], paddedHeight: 4, paddedWidth: 8 }, MEAN, STD);
    expect(Array.from(await u.data())).toEqual(expected);
    u.dispose();
    // and the floats really are used when they match: all-zero floats give zeros
    const zeros = { ...a, input: { floats: new Float32Array(floats.length), normalisation: { mean: MEAN.slice(), std: STD.slice() } } };
    const z = batchToTensor({ samples: [zeros], paddedHeight: 4, paddedWidth: 8 }, MEAN, STD);
    expect(Array.from(await z.data()).every((v) => v === 0)).toBe(true);
    z.dispose();
  });

  it('leaks no tensors (resize, flip, padding)', () => {
    const batch: Batch = {
      samples: [sample(1, 5, 7, () => 3), sample(2, 6, 2, () => 200, { height: 12, width: 4 }, true), sample(3, 30, 20, () => 9, { height: 9, width: 6 })],
      paddedHeight: 32,
      paddedWidth: 32,
    };
    batchToTensor(batch, MEAN, STD).dispose(); // warm-up (backend constants)
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) batchToTensor(batch, MEAN, STD).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('batchToTensor resize matches torchvision', () => {
  interface Fixture {
    input: { width: number; height: number };
    cases: { minSize: number; width: number; height: number; flip: boolean; pixels: number[] }[];
  }
  const fixture = JSON.parse(readFileSync(new URL('./fixtures/resize_torch.json', import.meta.url), 'utf8')) as Fixture;

  it('equals F.interpolate(bilinear, align_corners=False) within 1e-4 after normalisation, enlarging and shrinking, flipped or not', async () => {
    // tools/gen_resize_fixture.py: 12x9 image, pixel (x, y, c) = (37 x + 91 y + 53 c) % 256, written as a PNG and
    // decoded as the loader does; torch resized the float image, then flipped: out = (torch / 255 - mean) / std
    const { width: w, height: h } = fixture.input;
    const px = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) px[(y * w + x) * 3 + c] = (37 * x + 91 * y + 53 * c) % 256;
    const path = join(tempDir(), 'pattern.png');
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path);
    // 15 and 22 enlarge (20x15, 29x22), 5 and 3 shrink (7x5, 4x3: factor 3, no antialias), each flipped and not
    expect(fixture.cases.map((c) => c.minSize)).toEqual([15, 15, 22, 22, 5, 5, 3, 3]);
    // The longer side, w * minSize / h (20, 29.33, 6.67, 4), is rounded: none is near a .5 that rounding could
    // tip either way. (The pixel values are continuous in the source coordinates, so they have no such edge.)
    for (const c of fixture.cases) expect(Math.abs(((w * c.minSize) / h) % 1 - 0.5)).toBeGreaterThan(0.1);
    for (const c of fixture.cases) {
      const d = await decodeImage({ path, expectedWidth: w, expectedHeight: h, minSize: c.minSize, maxSize: 1000, flip: c.flip });
      expect([d.width, d.height, d.decodedWidth, d.decodedHeight]).toEqual([c.width, c.height, w, h]);
      const s: Sample = {
        ...d,
        imageId: 1,
        scaleX: d.width / w,
        scaleY: d.height / h,
        boxes: new Float32Array(0),
        labels: new Int32Array(0),
        crowdBoxes: new Float32Array(0),
      };
      const t = batchToTensor({ samples: [s], paddedHeight: c.height, paddedWidth: c.width }, MEAN, STD);
      const got = await t.data();
      t.dispose();
      expect(got).toHaveLength(c.pixels.length);
      let maxDiff = 0;
      c.pixels.forEach((v, i) => (maxDiff = Math.max(maxDiff, Math.abs(got[i]! - (v / 255 - MEAN[i % 3]!) / STD[i % 3]!))));
      expect(maxDiff).toBeLessThan(1e-4);
    }
  });
});
