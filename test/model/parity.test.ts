import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/index.js';
import { buildRetinaNet } from '../../src/model/build.js';
import type { RetinaNet } from '../../src/model/retinanet.js';
import { loadTorchvisionWeights } from '../../src/weights/torchvision.js';
import { HAS_TORCHVISION, parityFixture, torchvisionSkip, parityModelConfig, relativeError, type ParityFixture } from './parity-fixture.js';

const TOL = 1e-4;

function expected(fx: ParityFixture, name: string): Float32Array | Int32Array {
  const t = fx.outputs.tensors.get(name);
  if (t === undefined) throw new Error(`fixture has no "${name}"`);
  return t.values;
}

function inputOf(fx: ParityFixture): tf.Tensor4D {
  const t = fx.outputs.tensors.get('input')!;
  return tf.tensor4d(t.values, t.shape as [number, number, number, number]);
}

function loaded(fx: ParityFixture, norm: 'bn' | 'frozen_bn' | 'psbn' = 'bn'): RetinaNet {
  const model = buildRetinaNet(parityModelConfig(fx.meta, norm));
  const report = loadTorchvisionWeights(model, fx.weights, 'retinanet', { file: 'weights.safetensors' });
  expect(report.missing).toEqual([]);
  return model;
}

/**
 * The small variants run with every test run; the full retinanet_resnet50_fpn (weights 146 MB, ~1 min on wasm) only
 * with PSDET_PARITY_R50=1 (`npm run parity:r50`).
 */
const VARIANTS = [
  ['small', 'ResNet-18 1/4 width, FPN 32, P6 from P5'],
  ['small-c5', 'ResNet-18 1/4 width, FPN 32, P6 from C5'],
  ...(process.env.PSDET_PARITY_R50 ? [['r50', 'retinanet_resnet50_fpn, 91 classes']] : []),
] as ['small' | 'small-c5' | 'r50', string][];

const TORCHVISION_SKIP = torchvisionSkip();

for (const [variant, what] of VARIANTS) {
  describe.skipIf(!HAS_TORCHVISION)(`torchvision parity (${variant}: ${what}; 320 x 320, batch 2) ${TORCHVISION_SKIP}`, () => {
    let fx: ParityFixture;
    beforeAll(async () => {
      fx = parityFixture(variant);
      // The forward passes run on wasm (XNNPACK), ~30x the pure-JS backend's conv speed; kernels agree to ~1e-7.
      await selectBackend('wasm');
    });
    afterAll(async () => {
      await selectBackend('cpu');
    });

    it('anchors are identical', () => {
      const model = buildRetinaNet(parityModelConfig(fx.meta));
      const anchors = model.anchorsFor(fx.meta.size, fx.meta.size);
      expect(Array.from(anchors)).toEqual(Array.from(expected(fx, 'anchors')));
      model.dispose();
    });

    it('eval-mode C3..C5, P3..P7, logits and deltas agree within 1e-4 relative (BN and FrozenBN)', () => {
      for (const norm of ['bn', 'frozen_bn'] as const) {
        const model = loaded(fx, norm);
        const x = inputOf(fx);
        const c = model.backbone.forward(x, { training: false });
        const out = model.forward(x, { training: false });
        const errors: Record<string, number> = {
          c3: relativeError(c.c3.dataSync(), expected(fx, 'c3')),
          c4: relativeError(c.c4.dataSync(), expected(fx, 'c4')),
          c5: relativeError(c.c5.dataSync(), expected(fx, 'c5')),
          cls_logits: relativeError(out.clsLogits.dataSync(), expected(fx, 'cls_logits')),
          box_deltas: relativeError(out.boxDeltas.dataSync(), expected(fx, 'box_deltas')),
        };
        out.features.forEach((f, i) => {
          expect(f.shape).toEqual(fx.outputs.tensors.get(`p${i + 3}`)!.shape);
          errors[`p${i + 3}`] = relativeError(f.dataSync(), expected(fx, `p${i + 3}`));
        });
        for (const [name, err] of Object.entries(errors)) expect(err, `${norm} ${name}`).toBeLessThan(TOL);
        tf.dispose([x, c.c3, c.c4, c.c5, ...out.features, out.clsLogits, out.boxDeltas]);
        model.dispose();
      }
    });

    it('training-mode losses agree within 1e-4 and BN running statistics update as PyTorch does', () => {
      const model = loaded(fx, 'bn');
      const x = inputOf(fx);
      const targets = [0, 1].map((i) => ({
        boxes: expected(fx, `gt${i}_boxes`) as Float32Array,
        labels: expected(fx, `gt${i}_labels`) as Int32Array,
        crowdBoxes: new Float32Array(0),
      }));
      const { lossCls, lossBox } = model.computeLosses(x, targets);
      const cls = lossCls.dataSync()[0]!;
      const box = lossBox.dataSync()[0]!;
      expect(Math.abs(cls - expected(fx, 'loss_cls')[0]!) / expected(fx, 'loss_cls')[0]!).toBeLessThan(TOL);
      expect(Math.abs(box - expected(fx, 'loss_box')[0]!) / expected(fx, 'loss_box')[0]!).toBeLessThan(TOL);
      expect(relativeError(model.backbone.stem.norm.runningMean.dataSync(), expected(fx, 'stem_running_mean_after_train'))).toBeLessThan(TOL);
      tf.dispose([x, lossCls, lossBox]);
      model.dispose();
    });

    it('gives the same detections: same count, and each torchvision detection found once (label, score 1e-5, box 1e-3 px)', async () => {
      const model = loaded(fx, 'bn');
      const x = inputOf(fx);
      const detections = await model.detect(x, fx.meta.imageSizes);
      detections.forEach((det, i) => {
        const boxes = expected(fx, `det${i}_boxes`);
        const scores = expected(fx, `det${i}_scores`);
        const labels = expected(fx, `det${i}_labels`);
        expect(scores.length).toBeGreaterThan(0);
        expect(det.scores.length, `image ${i} count`).toBe(scores.length);
        // Scores a few 1e-8 apart may swap places (float32 summation order), so match as sets.
        const used = new Set<number>();
        const unmatched: number[] = [];
        for (let e = 0; e < scores.length; e++) {
          const found = det.scores.findIndex(
            (score, j) =>
              !used.has(j) &&
              det.labels[j] === labels[e] &&
              Math.abs(score - scores[e]!) < 1e-5 &&
              [0, 1, 2, 3].every((c) => Math.abs(det.boxes[4 * j + c]! - boxes[4 * e + c]!) < 1e-3),
          );
          if (found < 0) unmatched.push(e);
          else used.add(found);
        }
        expect(unmatched, `image ${i}: torchvision detections with no psdet match`).toEqual([]);
      });
      x.dispose();
      model.dispose();
    });
  });
}
