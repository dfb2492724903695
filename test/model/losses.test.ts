import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import {
  boxRegressionLoss,
  decodeBoxesTf,
  giouLoss,
  retinanetLosses,
  sigmoidFocalLoss,
  targetTensors,
} from '../../src/model/losses.js';
import { decodeBoxes } from '../../src/boxes/box-coder.js';

// Two images, three anchors, two classes.
const LOGITS = [
  [[0, 0], [2, -1], [0.5, 3]],
  [[1, -2], [-3, 0.25], [4, 4]],
];
// image 0: anchor 0 is class 1, anchor 1 background, anchor 2 ignored; image 1: class 0, ignored, background
const CLS_TARGETS = [[1, -1, -2], [0, -2, -1]];

describe('sigmoidFocalLoss', () => {
  it('matches hand-computed values (alpha 0.25, gamma 2)', () => {
    // image 0, anchor 0 (class 1): logits (0, 0), targets (0, 1), p = 0.5 for both, BCE = log 2 = 0.693147
    //   class 0 (t = 0): alpha_t = 0.75, (1 - p_t)^2 = 0.5^2 -> 0.75 * 0.25 * 0.693147 = 0.129965
    //   class 1 (t = 1): alpha_t = 0.25 -> 0.25 * 0.25 * 0.693147 = 0.043322
    // anchor 1 (background): logit 2: p = 0.880797, BCE = softplus(2) = 2.126928 -> 0.75 * 0.880797^2 * 2.126928 = 1.237559
    //   logit -1: p = 0.268941, BCE = softplus(-1) = 0.313262 -> 0.75 * 0.268941^2 * 0.313262 = 0.016994
    // anchor 2 ignored. Sum = 1.427839 (torchvision sigmoid_focal_loss over the same entries: 1.4278389)
    // image 1 (torchvision): 5.8193779
    tf.tidy(() => {
      const loss = sigmoidFocalLoss(tf.tensor3d(LOGITS), tf.tensor2d(CLS_TARGETS, undefined, 'int32'), 0.25, 2);
      const [a, b] = Array.from(loss.dataSync());
      expect(a).toBeCloseTo(1.427839, 5);
      expect(b).toBeCloseTo(5.819378, 5);
    });
  });

  it('supports non-integer gamma and alpha < 0 (no weighting)', () => {
    // torchvision sigmoid_focal_loss(alpha=-1, gamma=1.5) over image 0's valid entries: 2.2920134
    tf.tidy(() => {
      const loss = sigmoidFocalLoss(tf.tensor3d(LOGITS), tf.tensor2d(CLS_TARGETS, undefined, 'int32'), -1, 1.5);
      expect(loss.dataSync()[0]).toBeCloseTo(2.292013, 5);
    });
  });

  it('stays finite for extreme logits', () => {
    tf.tidy(() => {
      const loss = sigmoidFocalLoss(tf.tensor3d([[[100, -100]], [[-100, 100]]]), tf.tensor2d([[0], [0]], undefined, 'int32'), 0.25, 2);
      const [a, b] = Array.from(loss.dataSync());
      expect(a).toBeCloseTo(0, 6); // both confident and right
      // class 0 wrong by 100 (0.25 * 1 * 100) and class 1 wrong by 100 (0.75 * 1 * 100)
      expect(b).toBeCloseTo(100, 3);
    });
  });
});

describe('boxRegressionLoss', () => {
  const deltas = [[[0.05, -0.3, 0, 1], [5, 5, 5, 5], [0.1, 0.1, 0.1, 0.1]]];
  const targets = [[[0, 0, 0, 0], [0, 0, 0, 0], [0.1, 0.1, 0.1, 0.2]]];
  const mask = [[1, 0, 1]];

  it('sums L1 over foreground anchors', () => {
    // anchor 0: 0.05 + 0.3 + 0 + 1 = 1.35; anchor 1 masked out; anchor 2: |0.1 - 0.2| = 0.1 -> 1.45
    tf.tidy(() => {
      const l = boxRegressionLoss(tf.tensor3d(deltas), tf.tensor3d(targets), tf.tensor2d(mask), 'l1');
      expect(l.dataSync()[0]).toBeCloseTo(1.45, 5);
    });
  });

  it('sums smooth L1 (branch-free) over foreground anchors', () => {
    // beta 0.1: d < beta -> 0.5 d^2 / beta, else d - 0.5 beta
    // anchor 0: 0.5 * 0.0025 / 0.1 = 0.0125; 0.3 - 0.05 = 0.25; 0; 1 - 0.05 = 0.95 -> 1.2125
    // anchor 2: 0.5 * 0.01 / 0.1 = 0.05 -> total 1.2625
    tf.tidy(() => {
      const l = boxRegressionLoss(tf.tensor3d(deltas), tf.tensor3d(targets), tf.tensor2d(mask), 'smooth_l1', { beta: 0.1 });
      expect(l.dataSync()[0]).toBeCloseTo(1.2625, 5);
      // beta 0 is L1
      const l1 = boxRegressionLoss(tf.tensor3d(deltas), tf.tensor3d(targets), tf.tensor2d(mask), 'smooth_l1', { beta: 0 });
      expect(l1.dataSync()[0]).toBeCloseTo(1.45, 5);
    });
  });

  it('sums 1 - GIoU of decoded boxes over foreground anchors', () => {
    // zero deltas decode to the anchors [0,0,10,10].
    // vs [5,0,15,10]: IoU 50/150 = 1/3, enclosing 15x10 = union -> GIoU 1/3, loss 2/3
    // vs [20,0,30,10]: IoU 0, union 200, enclosing 30x10 = 300 -> GIoU = -100/300, loss 4/3
    tf.tidy(() => {
      const anchors = tf.tensor2d([[0, 0, 10, 10], [0, 0, 10, 10]]);
      const matchedBoxes = tf.tensor3d([[[5, 0, 15, 10], [20, 0, 30, 10]]]);
      const zeros = tf.zeros([1, 2, 4]) as tf.Tensor3D;
      const both = boxRegressionLoss(zeros, zeros, tf.tensor2d([[1, 1]]), 'giou', { anchors, matchedBoxes });
      expect(both.dataSync()[0]).toBeCloseTo(2, 5);
      const first = boxRegressionLoss(zeros, zeros, tf.tensor2d([[1, 0]]), 'giou', { anchors, matchedBoxes });
      expect(first.dataSync()[0]).toBeCloseTo(2 / 3, 5);
      expect(() => boxRegressionLoss(zeros, zeros, tf.tensor2d([[1, 0]]), 'giou')).toThrow('needs anchors');
    });
  });

  it('giouLoss of identical boxes is 0', () => {
    tf.tidy(() => {
      const b = tf.tensor3d([[[1, 2, 5, 9]]]);
      expect(giouLoss(b, b).dataSync()[0]).toBeCloseTo(0, 6);
    });
  });

  it('decodeBoxesTf agrees with the array box coder, clip included', () => {
    const anchors = new Float32Array([0, 0, 10, 10, -20, 5, 44, 37]);
    const deltas = new Float32Array([0.1, -0.2, 0.3, 9, -1, 0.5, -0.7, 0.2]);
    const expected = decodeBoxes(anchors, deltas, [1, 2, 3, 4]);
    tf.tidy(() => {
      const got = decodeBoxesTf(tf.tensor2d(anchors, [2, 4]), tf.tensor3d(deltas, [1, 2, 4]), [1, 2, 3, 4]).dataSync();
      got.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 3));
    });
  });
});

describe('retinanetLosses', () => {
  const cfg = { ...defaultConfig().model, boxLoss: 'l1' as const };

  function inputs() {
    return {
      clsLogits: tf.tensor3d(LOGITS),
      boxDeltas: tf.tensor3d([[[0.5, 0, 0, 0], [9, 9, 9, 9], [9, 9, 9, 9]], [[0, 0.25, 0, 0], [9, 9, 9, 9], [9, 9, 9, 9]]]),
      clsTargets: tf.tensor2d(CLS_TARGETS, undefined, 'int32'),
      boxTargets: tf.zeros([2, 3, 4]) as tf.Tensor3D,
    };
  }

  it('divides each image by max(1, foreground) and averages over images', () => {
    // image 0: cls 1.427839, box |0.5| = 0.5; image 1: cls 5.819378, box 0.25 (one foreground anchor each)
    tf.tidy(() => {
      const { lossCls, lossBox } = retinanetLosses({ ...inputs(), numForeground: [1, 1] }, cfg);
      expect(lossCls.dataSync()[0]).toBeCloseTo((1.427839 + 5.819378) / 2, 5);
      expect(lossBox.dataSync()[0]).toBeCloseTo((0.5 + 0.25) / 2, 6);
      // counts of 4 and 0: image 0 divided by 4, image 1 by max(1, 0) = 1
      const other = retinanetLosses({ ...inputs(), numForeground: [4, 0] }, cfg);
      expect(other.lossCls.dataSync()[0]).toBeCloseTo((1.427839 / 4 + 5.819378) / 2, 5);
      expect(other.lossBox.dataSync()[0]).toBeCloseTo((0.5 / 4 + 0.25) / 2, 6);
    });
  });

  it('gives a finite classification loss and zero box loss for an image with no ground truth', () => {
    tf.tidy(() => {
      const { lossCls, lossBox } = retinanetLosses(
        {
          clsLogits: tf.fill([1, 3, 2], -4.59512) as tf.Tensor3D, // prior 0.01
          boxDeltas: tf.ones([1, 3, 4]) as tf.Tensor3D,
          clsTargets: tf.fill([1, 3], -1, 'int32') as tf.Tensor2D,
          boxTargets: tf.zeros([1, 3, 4]) as tf.Tensor3D,
          numForeground: [0],
        },
        cfg,
      );
      // 6 entries of 0.75 * 0.01^2 * -log(0.99) = 7.5377e-7 each
      expect(lossCls.dataSync()[0]).toBeCloseTo(6 * 0.75 * 1e-4 * -Math.log(0.99), 9);
      expect(lossBox.dataSync()[0]).toBe(0);
    });
  });

  it('rejects a foreground count per image that does not match the batch', () => {
    tf.tidy(() => {
      expect(() => retinanetLosses({ ...inputs(), numForeground: [1] }, cfg)).toThrow('1 foreground counts for 2 images');
    });
  });

  it('has gradients for every box loss kind on the cpu backend, matching finite differences', () => {
    for (const boxLoss of ['l1', 'smooth_l1', 'giou'] as const) {
      tf.tidy(() => {
        const base = inputs();
        const anchors = tf.tensor2d([[0, 0, 10, 10], [5, 5, 25, 15], [0, 0, 8, 8]]);
        const matchedBoxes = tf.tensor3d([[[1, 1, 11, 12], [0, 0, 0, 0], [0, 0, 0, 0]], [[2, 0, 9, 10], [0, 0, 0, 0], [0, 0, 0, 0]]]);
        const total = (logits: tf.Tensor3D, deltas: tf.Tensor3D): tf.Scalar => {
          const { lossCls, lossBox } = retinanetLosses(
            { ...base, clsLogits: logits, boxDeltas: deltas, numForeground: [1, 1], anchors, matchedBoxes },
            { ...cfg, boxLoss, smoothL1Beta: 0.1 },
          );
          return tf.add(lossCls, lossBox);
        };
        const [gLogits, gDeltas] = tf.grads((l: tf.Tensor, d: tf.Tensor) => total(l as tf.Tensor3D, d as tf.Tensor3D))([
          base.clsLogits,
          base.boxDeltas,
        ]);
        const gl = gLogits!.dataSync();
        const gd = gDeltas!.dataSync();
        expect(gl.every(Number.isFinite) && gd.every(Number.isFinite)).toBe(true);
        // ignored anchors get no classification gradient; background anchors no box gradient
        expect(gl[2 * 2]).toBe(0); // image 0, anchor 2, class 0
        expect(gd[4]).toBe(0); // image 0, anchor 1, dx
        // finite differences on one logit (image 0, anchor 1, class 0) and one delta (image 0, anchor 0, dx)
        const h = 1e-2;
        const bump = (t: tf.Tensor3D, i: number, s: number) => tf.add(t, tf.mul(tf.reshape(tf.oneHot([i], t.size), t.shape), s)) as tf.Tensor3D;
        const fdLogit = (total(bump(base.clsLogits, 2, h), base.boxDeltas).dataSync()[0]! - total(bump(base.clsLogits, 2, -h), base.boxDeltas).dataSync()[0]!) / (2 * h);
        expect(gl[2]).toBeCloseTo(fdLogit, 2);
        const fdDelta = (total(base.clsLogits, bump(base.boxDeltas, 0, h)).dataSync()[0]! - total(base.clsLogits, bump(base.boxDeltas, 0, -h)).dataSync()[0]!) / (2 * h);
        expect(gd[0]).toBeCloseTo(fdDelta, 2);
      });
    }
  });

  it('leaks no tensors through forward and backward', () => {
    const base = inputs();
    const anchors = tf.tensor2d([[0, 0, 10, 10], [5, 5, 25, 15], [0, 0, 8, 8]]);
    const matchedBoxes = tf.zeros([2, 3, 4]) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    for (const boxLoss of ['l1', 'smooth_l1', 'giou'] as const) {
      const { lossCls, lossBox } = retinanetLosses({ ...base, numForeground: [1, 1], anchors, matchedBoxes }, { ...cfg, boxLoss });
      lossCls.dispose();
      lossBox.dispose();
      const logits = tf.variable(base.clsLogits);
      const { value, grads } = tf.variableGrads(() => {
        const { lossCls: c, lossBox: b } = retinanetLosses(
          { ...base, clsLogits: logits as tf.Tensor3D, numForeground: [1, 1], anchors, matchedBoxes },
          { ...cfg, boxLoss },
        );
        return tf.add(c, b) as tf.Scalar;
      }, [logits]);
      value.dispose();
      tf.dispose(grads);
      logits.dispose();
      tf.dispose(tf.grads((l: tf.Tensor) => retinanetLosses({ ...base, clsLogits: l as tf.Tensor3D, numForeground: [1, 1], anchors, matchedBoxes }, { ...cfg, boxLoss }).lossCls)([base.clsLogits]));
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([base.clsLogits, base.boxDeltas, base.clsTargets, base.boxTargets, anchors, matchedBoxes]);
  });
});

describe('targetTensors', () => {
  it('shapes batch targets as [N, A] and [N, A, 4]', () => {
    const t = targetTensors(
      { clsTargets: new Int32Array([1, -1, -2, 0]), boxTargets: new Float32Array(16), matchedBoxes: new Float32Array(16), numForeground: [1, 1] },
      2,
    );
    expect(t.clsTargets.shape).toEqual([2, 2]);
    expect(t.clsTargets.dtype).toBe('int32');
    expect(t.boxTargets.shape).toEqual([2, 2, 4]);
    tf.dispose([t.clsTargets, t.boxTargets, t.matchedBoxes]);
  });
});
