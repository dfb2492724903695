import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { batchToTensor } from '../../src/data/tensor.js';
import type { Batch, Sample } from '../../src/data/types.js';

const MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const STD: [number, number, number] = [0.229, 0.224, 0.225];

function sample(imageId: number, height: number, width: number, fill: (y: number, x: number, c: number) => number): Sample {
  const pixels = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) pixels[(y * width + x) * 3 + c] = fill(y, x, c);
  return {
    imageId,
    pixels,
    height,
    width,
    originalHeight: height,
    originalWidth: width,
    scaleX: 1,
    scaleY: 1,
    flipped: false,
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

  it('leaks no tensors', () => {
    const batch: Batch = { samples: [sample(1, 5, 7, () => 3), sample(2, 6, 2, () => 200)], paddedHeight: 32, paddedWidth: 32 };
    batchToTensor(batch, MEAN, STD).dispose(); // warm-up (backend constants)
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) batchToTensor(batch, MEAN, STD).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
