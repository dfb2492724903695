import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRetinaNet } from '../../src/model/build.js';
import type { RetinaNet } from '../../src/model/retinanet.js';
import { loadTorchvisionWeights } from '../../src/weights/torchvision.js';
import { HAS_TORCHVISION, TORCHVISION_SKIP, parityFixture, parityModelConfig, relativeError, type ParityFixture } from './parity-fixture.js';

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

for (const variant of ['small', 'small-c5'] as const) {
  describe.skipIf(!HAS_TORCHVISION)(`torchvision parity (${variant}: ResNet-18 1/4 width, FPN 32, 320 x 320, batch 2)`, () => {
    let fx: ParityFixture;
    beforeAll(async () => {
      fx = parityFixture(variant);
      // The forward passes run on wasm (XNNPACK), ~30x the pure-JS backend's conv speed; kernels agree to ~1e-7.
      await tf.setBackend('wasm');
    });
    afterAll(async () => {
      await tf.setBackend('cpu');
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

    it('a training-mode pass updates BN running statistics as PyTorch does', () => {
      const model = loaded(fx, 'bn');
      const x = inputOf(fx);
      const out = model.forward(x, { training: true });
      expect(relativeError(model.backbone.stem.norm.runningMean.dataSync(), expected(fx, 'stem_running_mean_after_train'))).toBeLessThan(TOL);
      tf.dispose([x, ...out.features, out.clsLogits, out.boxDeltas]);
      model.dispose();
    });
  });
}

describe.skipIf(HAS_TORCHVISION)('torchvision parity', () => {
  it.skip(TORCHVISION_SKIP, () => {});
});
