import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import { detectionsFromHeads } from '../../src/infer/detect.js';

describe('detectionsFromHeads', () => {
  it('turns one confident anchor with zero deltas into that anchor as a box', async () => {
    const cfg = { ...defaultConfig().model, numClasses: 2 };
    // 64 x 64 padded batch: P3..P7 are 8x8, 4x4, 2x2, 1x1, 1x1 with 9 anchors per location.
    const featureSizes: [number, number][] = [[8, 8], [4, 4], [2, 2], [1, 1], [1, 1]];
    const total = (64 + 16 + 4 + 1 + 1) * 9;
    const logits = new Float32Array(total * 2).fill(-10);
    // P3 location (y 2, x 3), cell anchor 3 (ratio 1, scale 1: ratio-major, ratios 0.5, 1, 2 x 3 scales):
    // flat anchor (2 * 8 + 3) * 9 + 3 = 174; class 1 logit 2 -> score sigmoid(2) = 0.8808.
    logits[174 * 2 + 1] = 2;
    const cls = tf.tensor3d(logits, [1, total, 2]);
    const box = tf.zeros([1, total, 4]) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    const [det] = await detectionsFromHeads(cls, box, featureSizes, [64, 64], [[60, 50]], cfg);
    expect(tf.memory().numTensors).toBe(before);
    // Size 32, ratio 1: cell anchor [-16, -16, 16, 16]; stride 64 / 8 = 8 -> shift (x 24, y 16) -> [8, 0, 40, 32],
    // inside the 50 x 60 image, so clipping leaves it.
    expect(Array.from(det!.boxes)).toEqual([8, 0, 40, 32]);
    expect(det!.scores[0]).toBeCloseTo(0.8808, 4);
    expect(Array.from(det!.labels)).toEqual([1]);
    tf.dispose([cls, box]);
  });

  it('refuses head outputs whose anchor count does not fit the feature sizes', async () => {
    const cls = tf.zeros([1, 10, 2]) as tf.Tensor3D;
    const box = tf.zeros([1, 10, 4]) as tf.Tensor3D;
    await expect(
      detectionsFromHeads(cls, box, [[8, 8], [4, 4], [2, 2], [1, 1], [1, 1]], [64, 64], [[64, 64]], { ...defaultConfig().model, numClasses: 2 }),
    ).rejects.toThrow('detect: 774 anchors but head outputs have 10 / 10');
    tf.dispose([cls, box]);
  });
});
