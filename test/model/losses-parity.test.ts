// RetinaNet losses against torchvision 0.14's RetinaNetHead.compute_loss (test/fixtures/boxes_torchvision.json).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { assignBatchTargets } from '../../src/boxes/targets.js';
import { defaultConfig } from '../../src/config/defaults.js';
import { retinanetLosses, targetTensors } from '../../src/model/losses.js';
import { FIXTURE, formulaDeltas, formulaLogits } from '../fixtures/boxes-fixture.js';

describe('torchvision parity: RetinaNet losses', () => {
  const anchors = Float32Array.from(FIXTURE.smallAnchors);
  const numAnchors = anchors.length / 4;
  const { numClasses: k, targets } = FIXTURE.losses;
  const n = targets.length;
  const batch = assignBatchTargets(
    anchors,
    targets.map((t) => ({ boxes: Float32Array.from(t.boxes), labels: Int32Array.from(t.labels), crowdBoxes: new Float32Array(0) })),
    defaultConfig().model,
  );

  for (const boxLoss of ['l1', 'smooth_l1', 'giou'] as const) {
    it(`gives torchvision's classification and ${boxLoss} box losses and gradients`, () => {
      const expected = FIXTURE.losses.cases[boxLoss];
      tf.tidy(() => {
        const t = targetTensors(batch, numAnchors);
        const logits = tf.tensor3d(formulaLogits(n * numAnchors * k), [n, numAnchors, k]);
        const deltas = tf.tensor3d(formulaDeltas(n * numAnchors * 4), [n, numAnchors, 4]);
        const cfg = { ...defaultConfig().model, boxLoss, smoothL1Beta: FIXTURE.losses.smoothL1Beta };
        const losses = (l: tf.Tensor3D, d: tf.Tensor3D) =>
          retinanetLosses(
            { clsLogits: l, boxDeltas: d, ...t, numForeground: batch.numForeground, anchors: tf.tensor2d(anchors, [numAnchors, 4]) },
            cfg,
          );
        const { lossCls, lossBox } = losses(logits, deltas);
        expect(lossCls.dataSync()[0]).toBeCloseTo(expected.lossCls, 3); // ~248.86: 1e-5 relative
        expect(Math.abs(lossBox.dataSync()[0]! - expected.lossBox)).toBeLessThan(1e-5 * Math.max(1, expected.lossBox));
        const [gl, gd] = tf.grads((l: tf.Tensor, d: tf.Tensor) => {
          const out = losses(l as tf.Tensor3D, d as tf.Tensor3D);
          return tf.add(out.lossCls, out.lossBox);
        })([logits, deltas]);
        const absSum = (g: tf.Tensor) => tf.sum(tf.abs(g)).dataSync()[0]!;
        expect(absSum(gl!) / expected.gradClsSum).toBeCloseTo(1, 5);
        expect(absSum(gd!) / expected.gradBoxSum).toBeCloseTo(1, 5);
      });
    });
  }
});
