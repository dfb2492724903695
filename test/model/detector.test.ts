import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { buildRetinaNet } from '../../src/model/build.js';
import { RetinaNet, featureSide } from '../../src/model/retinanet.js';
import { Rng } from '../../src/util/rng.js';
import { tinyModelConfig } from './tiny.js';

const EMPTY = { boxes: new Float32Array(0), labels: new Int32Array(0), crowdBoxes: new Float32Array(0) };

function totalLoss(l: { lossCls: tf.Scalar; lossBox: tf.Scalar }): tf.Scalar {
  return tf.add(l.lossCls, l.lossBox);
}

describe('RetinaNet detector', () => {
  it('feature sizes follow torch conv arithmetic; anchors line up with the head and are cached', () => {
    // 100 -> 50 -> 25 -> 13 -> 7 -> 4 -> 2 -> 1 (each stride-2 layer: floor((L - 1) / 2) + 1).
    expect([1, 2, 3, 4, 5, 6, 7].map((h) => featureSide(100, h))).toEqual([50, 25, 13, 7, 4, 2, 1]);
    const model = buildRetinaNet(tinyModelConfig(), new Rng(0));
    expect(model.featureSizes(100, 64)).toEqual([
      [13, 8],
      [7, 4],
      [4, 2],
      [2, 1],
      [1, 1],
    ]);
    const anchors = model.anchorsFor(100, 64);
    // 9 * (104 + 28 + 8 + 2 + 1) = 1287 anchors.
    expect(anchors.length).toBe(1287 * 4);
    expect(model.anchorsFor(100, 64)).toBe(anchors);
    // First P3 anchor: size 32, ratio 0.5 -> w = 32 / sqrt(0.5) = 45.25, h = 22.63 -> [-23, -11, 23, 11] (half to even).
    expect(Array.from(anchors.subarray(0, 4))).toEqual([-23, -11, 23, 11]);
    const x = tf.zeros([1, 100, 64, 3]) as tf.Tensor4D;
    const out = model.forward(x, { training: false });
    expect(out.clsLogits.shape[1]).toBe(1287);
    tf.dispose([x, ...out.features, out.clsLogits, out.boxDeltas]);
    model.dispose();
  });

  it('a training step with empty ground truth: box loss 0, finite classification loss and gradients', () => {
    const model = buildRetinaNet(tinyModelConfig(), new Rng(0));
    const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    let parts: number[] = [];
    const { value, grads } = tf.variableGrads(() => {
      const l = model.computeLosses(x, [EMPTY, EMPTY]);
      parts = [l.lossCls.dataSync()[0]!, l.lossBox.dataSync()[0]!];
      return totalLoss(l);
    }, model.trainableVariables());
    const [cls, box] = parts as [number, number];
    expect(box).toBe(0);
    // Every anchor is background; logits start near -log(99): focal loss per logit is
    // 0.75 * p^2 * -log(1 - p) with p ~ 0.01 -> ~7.5e-7; 774 anchors x 3 classes -> ~1.7e-3 per image (/ max(1, 0)).
    expect(cls).toBeGreaterThan(1e-3);
    expect(cls).toBeLessThan(3e-3);
    expect(value.dataSync()[0]).toBeCloseTo(cls, 6);
    const norms = Object.values(grads).map((g) => tf.norm(g).dataSync()[0]!);
    expect(norms.every(Number.isFinite)).toBe(true);
    // The box branch gets no gradient without foreground anchors; the classification logits do.
    const byName = new Map(model.params().map((p) => [p.variable.name, p.name]));
    const gradOf = (name: string): number => {
      const entry = Object.entries(grads).find(([v]) => byName.get(v) === name)!;
      return tf.norm(entry[1]).dataSync()[0]!;
    };
    expect(gradOf('head.box.deltas.weight')).toBe(0);
    expect(gradOf('head.cls.logits.bias')).toBeGreaterThan(0);
    tf.dispose([x, value, ...Object.values(grads)]);
    model.dispose();
  });

  it('a training step with one box: foreground anchors give a positive box loss and box gradients', () => {
    const model = buildRetinaNet(tinyModelConfig(), new Rng(0));
    const x = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const target = { boxes: Float32Array.from([8, 8, 40, 40]), labels: Int32Array.from([2]), crowdBoxes: new Float32Array(0) };
    const l = model.computeLosses(x, [target]);
    expect(l.lossBox.dataSync()[0]).toBeGreaterThan(0);
    // Foreground anchors start at p = 0.01 for their class: (1 - p)^2 * 0.25 * -log(0.01) = 1.13 each; the loss is
    // dominated by them (normalised by their number), so it lies near 1.13.
    expect(l.lossCls.dataSync()[0]).toBeGreaterThan(1);
    expect(l.lossCls.dataSync()[0]).toBeLessThan(1.3);
    tf.dispose([x, l.lossCls, l.lossBox]);
    model.dispose();
  });

  it('leaks no tensor across losses + backward, detection, and dispose', async () => {
    const before = tf.memory().numTensors;
    const model = buildRetinaNet(tinyModelConfig({ boxLoss: 'giou' }), new Rng(0));
    const built = tf.memory().numTensors;
    const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const targets = [{ boxes: Float32Array.from([0, 0, 30, 20]), labels: Int32Array.from([1]), crowdBoxes: Float32Array.from([30, 30, 64, 64]) }, EMPTY];
    const { value, grads } = tf.variableGrads(() => totalLoss(model.computeLosses(x, targets)), model.trainableVariables());
    tf.dispose([value, ...Object.values(grads)]);
    const detections = await model.detect(x, [
      [64, 64],
      [50, 60],
    ]);
    expect(detections.length).toBe(2);
    // With the prior 0.01 < 0.05 nothing passes the score threshold at init.
    expect(detections[0]!.scores.length).toBe(0);
    x.dispose();
    expect(tf.memory().numTensors).toBe(built);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects mismatched batch sizes and anchor settings', async () => {
    const model = buildRetinaNet(tinyModelConfig(), new Rng(0));
    const x = tf.zeros([2, 64, 64, 3]) as tf.Tensor4D;
    expect(() => model.computeLosses(x, [EMPTY])).toThrow('computeLosses: 1 targets for 2 images');
    await expect(model.detect(x, [[64, 64]])).rejects.toThrow('detect: 1 image sizes for 2 images');
    x.dispose();
    // A head for 9 anchors per location handed anchor settings with 3.
    expect(() => new RetinaNet(model.backbone, model.fpn, model.head, { ...tinyModelConfig(), aspectRatios: [1] })).toThrow(
      'RetinaNet: the head predicts 9 anchors per location, the anchor settings give 3',
    );
    model.dispose();
  });
});
