import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { NormKind } from '../../src/config/types.js';
import { buildRetinaNet } from '../../src/model/build.js';
import type { RetinaNet } from '../../src/model/retinanet.js';
import { Rng } from '../../src/util/rng.js';
import { TORCHVISION_COCO_LABELS } from '../../src/weights/catalogue.js';
import { detectLayout, loadPretrained } from '../../src/weights/pretrained.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsFile } from '../../src/weights/safetensors.js';
import { readWeightsFile } from '../../src/weights/state-dict.js';
import { namedTensors, toTorchvisionTensors } from '../../src/weights/torchvision.js';
import { tinyModelConfig } from '../model/tiny.js';
import { PTH_DIR, PTH_SKIP, pthFixtures } from './pth-fixture.js';

async function torchvisionFile(model: RetinaNet, layout: 'resnet' | 'retinanet' = 'retinanet'): Promise<SafetensorsFile> {
  const module = layout === 'resnet' ? model.backbone : model;
  return parseSafetensors(serializeSafetensors(await toTorchvisionTensors(module, layout)));
}

/** A "pretrained" BN model with non-trivial statistics and affine parameters (seeded). */
function pretrainedSource(numClasses = 3): RetinaNet {
  const model = buildRetinaNet(tinyModelConfig({ numClasses }), new Rng(11));
  const rng = new Rng(12);
  for (const { name, variable } of [...model.backbone.params(), ...model.backbone.buffers()]) {
    if (variable.rank !== 1) continue;
    const n = variable.shape[0]!;
    const values = Float32Array.from({ length: n }, () => rng.next());
    const v = name.endsWith('gamma') ? values.map((x) => 0.5 + x) : name.endsWith('beta') ? values.map((x) => x - 0.3) : name.endsWith('running_var') ? values.map((x) => 0.5 + 2 * x) : values.map((x) => x - 0.5);
    variable.assign(tf.tensor1d(v));
  }
  return model;
}

function outputs(model: RetinaNet, x: tf.Tensor4D, training: boolean): Float32Array[] {
  const out = model.forward(x, { training });
  const values = [...out.features.map((f) => f.dataSync() as Float32Array), out.clsLogits.dataSync() as Float32Array, out.boxDeltas.dataSync() as Float32Array];
  tf.dispose([...out.features, out.clsLogits, out.boxDeltas]);
  return values;
}

function maxRelative(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((t, i) => {
    let scale = 0;
    let diff = 0;
    for (let j = 0; j < t.length; j++) {
      scale = Math.max(scale, Math.abs(b[i]![j]!));
      diff = Math.max(diff, Math.abs(t[j]! - b[i]![j]!));
    }
    worst = Math.max(worst, diff / Math.max(scale, 1e-12));
  });
  return worst;
}

describe('pretrained weights into BN, FrozenBN and psBN', () => {
  it('psBN loads beta - alpha: its outputs equal the BN model\'s at step 0, in eval and in training mode', async () => {
    const source = pretrainedSource();
    const file = await torchvisionFile(source);
    const x = tf.tidy(() => tf.randomUniform([2, 64, 64, 3], -1, 1, 'float32', 5) as tf.Tensor4D);
    const load = (norm: NormKind): RetinaNet => {
      const m = buildRetinaNet(tinyModelConfig({ norm, psbnAlpha: 0.1 }), new Rng(3));
      const r = loadPretrained(m, file, { file: 'tv.safetensors', norm, psbnAlpha: 0.1 });
      expect(r.layout).toBe('torchvision-retinanet');
      expect(r.betaShifted).toBe(norm === 'psbn' ? m.backbone.params().filter((p) => p.name.endsWith('.beta')).length : 0);
      return m;
    };
    const bn = load('bn');
    const psbn = load('psbn');
    const frozen = load('frozen_bn');
    // the stored beta, shifted once: float32(beta) - float32(0.1) in float32
    const tvBias = file.tensors.get('backbone.body.bn1.bias')!.values;
    const psBeta = psbn.backbone.params().find((p) => p.name === 'stem.bn.beta')!.variable.dataSync();
    tvBias.forEach((b, i) => expect(psBeta[i]).toBe(Math.fround(b - Math.fround(0.1))));
    outputs(psbn, x, false); // psBN keeps its alpha scalar from the first call on
    const before = tf.memory().numTensors;
    const bnEval = outputs(bn, x, false);
    expect(maxRelative(outputs(psbn, x, false), bnEval)).toBeLessThan(1e-5);
    expect(maxRelative(outputs(frozen, x, false), bnEval)).toBeLessThan(1e-6);
    // training mode normalises with batch statistics: psBN still computes BN's function
    expect(maxRelative(outputs(psbn, x, true), outputs(bn, x, true))).toBeLessThan(1e-5);
    expect(tf.memory().numTensors).toBe(before);
    // without the shift psBN would differ by alpha before every ReLU: the test can fail
    const unshifted = buildRetinaNet(tinyModelConfig({ norm: 'psbn', psbnAlpha: 0.1 }), new Rng(3));
    loadPretrained(unshifted, file, { file: 'tv.safetensors', norm: 'bn', psbnAlpha: 0.1 });
    expect(maxRelative(outputs(unshifted, x, false), bnEval)).toBeGreaterThan(1e-3);
    tf.dispose([x]);
    for (const m of [source, bn, psbn, frozen, unshifted]) m.dispose();
  });

  it('an ImageNet ResNet fills the backbone only; FPN and head keep their initialisation', async () => {
    const source = pretrainedSource();
    const file = await torchvisionFile(source, 'resnet');
    file.tensors.set('fc.weight', { dtype: 'F32', shape: [10, 4], values: new Float32Array(40) });
    expect(detectLayout(file, 'r.pth')).toBe('torchvision-resnet');
    const fresh = buildRetinaNet(tinyModelConfig(), new Rng(3));
    const target = buildRetinaNet(tinyModelConfig(), new Rng(3));
    const r = loadPretrained(target, file, { file: 'r.pth', norm: 'bn', psbnAlpha: 0.1 });
    expect(r.loaded).toBe(target.backbone.params().length + target.backbone.buffers().length);
    const [a, b, c] = await Promise.all([namedTensors(source), namedTensors(target), namedTensors(fresh)]);
    for (const [name, t] of b) {
      const expected = name.startsWith('backbone.') ? a.get(name)! : c.get(name)!;
      expect(Array.from(t.values), name).toEqual(Array.from(expected.values));
    }
    for (const m of [source, fresh, target]) m.dispose();
  });

  it('scope "backbone" (model.pretrainedBackbone) takes only the backbone of a whole RetinaNet, with the psBN shift', async () => {
    const source = pretrainedSource(91);
    const file = await torchvisionFile(source);
    const fresh = buildRetinaNet(tinyModelConfig({ norm: 'psbn' }), new Rng(3));
    const target = buildRetinaNet(tinyModelConfig({ norm: 'psbn' }), new Rng(3));
    const r = loadPretrained(target, file, { file: 'coco.pth', norm: 'psbn', psbnAlpha: 0.25, scope: 'backbone' });
    expect(r.classHead).toBe('not in weights');
    const [a, b, c] = await Promise.all([namedTensors(source), namedTensors(target), namedTensors(fresh)]);
    for (const [name, t] of b) {
      if (!name.startsWith('backbone.')) expect(Array.from(t.values), name).toEqual(Array.from(c.get(name)!.values));
      else if (name.endsWith('.beta')) expect(Array.from(t.values), name).toEqual(Array.from(a.get(name)!.values, (v) => Math.fround(v - 0.25)));
      else expect(Array.from(t.values), name).toEqual(Array.from(a.get(name)!.values));
    }
    for (const m of [source, fresh, target]) m.dispose();
  });

  it('a COCO RetinaNet head (91 torchvision labels) maps onto COCO categories: channel a*K+j <- a*91+id', async () => {
    const source = buildRetinaNet(tinyModelConfig({ numClasses: 91 }), new Rng(21));
    const file = await torchvisionFile(source);
    const categories = { ids: [1, 3, 18], names: ['person', 'car', 'dog'] };
    expect(categories.ids.map((id) => TORCHVISION_COCO_LABELS[id])).toEqual(categories.names);
    const target = buildRetinaNet(tinyModelConfig({ numClasses: 3 }), new Rng(22));
    const before = tf.memory().numTensors;
    const r = loadPretrained(target, file, { file: 'coco.pth', norm: 'frozen_bn', psbnAlpha: 0.1, categories });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.classHead).toBe('mapped');
    const w = file.tensors.get('head.classification_head.cls_logits.weight')!; // OIHW [9 * 91, 16, 3, 3]
    const bias = file.tensors.get('head.classification_head.cls_logits.bias')!.values;
    const hwio = target.params().find((p) => p.name === 'head.cls.logits.weight')!.variable.arraySync() as number[][][][];
    const b = target.params().find((p) => p.name === 'head.cls.logits.bias')!.variable.dataSync();
    const row = 16 * 9;
    for (let a = 0; a < 9; a++) {
      categories.ids.forEach((id, j) => {
        expect(b[a * 3 + j]).toBe(bias[a * 91 + id]);
        // HWIO [kh, kw, i, o] = OIHW [o, i, kh, kw]; check (kh=1, kw=2, i=5)
        expect(hwio[1]![2]![5]![a * 3 + j]).toBe(w.values[(a * 91 + id) * row + 5 * 9 + 1 * 3 + 2]);
      });
    }
    source.dispose();
    target.dispose();
  });

  it('any other class set re-initialises the classification layer and loads the rest', async () => {
    const source = buildRetinaNet(tinyModelConfig({ numClasses: 91 }), new Rng(21));
    const file = await torchvisionFile(source);
    const target = buildRetinaNet(tinyModelConfig({ numClasses: 3 }), new Rng(22));
    const fresh = buildRetinaNet(tinyModelConfig({ numClasses: 3 }), new Rng(22));
    const r = loadPretrained(target, file, { file: 'coco.pth', norm: 'bn', psbnAlpha: 0.1, categories: { ids: [1, 2, 3], names: ['circle', 'square', 'triangle'] } });
    expect(r.classHead).toBe('reinitialised');
    expect(r.summary).toContain('re-initialised: the weights have 91 classes, the model 3');
    const [a, b, c] = await Promise.all([namedTensors(source), namedTensors(target), namedTensors(fresh)]);
    for (const [name, t] of b) {
      const expected = name.startsWith('head.cls.logits.') ? c.get(name)! : a.get(name)!;
      expect(Array.from(t.values), name).toEqual(Array.from(expected.values));
    }
    for (const m of [source, target, fresh]) m.dispose();
  });

  it('a missing tensor, a shape mismatch and an unknown layout are one line naming the file and the tensor', async () => {
    const source = pretrainedSource();
    const file = await torchvisionFile(source);
    const target = buildRetinaNet(tinyModelConfig(), new Rng(3));
    const opts = { file: 'ckpt.pth', norm: 'bn' as const, psbnAlpha: 0.1 };
    const missing: SafetensorsFile = { tensors: new Map(file.tensors), metadata: {} };
    missing.tensors.delete('backbone.body.layer2.1.conv2.weight');
    const before = tf.memory().numTensors;
    expect(() => loadPretrained(target, missing, opts)).toThrow(/^ckpt\.pth: not a torchvision RetinaNet for this model: tensor "backbone\.body\.layer2\.1\.conv2\.weight" missing \(psdet backbone\.res3\.1\.conv2\.weight\)$/);
    const wrong: SafetensorsFile = { tensors: new Map(file.tensors), metadata: {} };
    wrong.tensors.set('backbone.fpn.layer_blocks.0.0.bias', { dtype: 'F32', shape: [7], values: new Float32Array(7) });
    expect(() => loadPretrained(target, wrong, opts)).toThrow('ckpt.pth: tensor "backbone.fpn.layer_blocks.0.0.bias" [7] does not fit psdet "fpn.output3.bias" [16]');
    expect(tf.memory().numTensors).toBe(before);
    const other: SafetensorsFile = { tensors: new Map([['encoder.weight', file.tensors.get('backbone.body.bn1.bias')!]]), metadata: {} };
    expect(() => loadPretrained(target, other, opts)).toThrow(/^ckpt\.pth: neither a torchvision ResNet \/ RetinaNet state dict nor psdet weights \(names start encoder\.weight\)$/);
    source.dispose();
    target.dispose();
  });
});

describe.skipIf(PTH_SKIP !== '')(`torchvision ResNet-18 from torch.save into psBN ${PTH_SKIP}`, () => {
  it('the psBN backbone loaded from resnet18.pth gives the BN backbone\'s C3..C5', () => {
    pthFixtures();
    const weights = readWeightsFile(join(PTH_DIR, 'resnet18.pth'));
    const x = tf.tidy(() => tf.randomUniform([1, 64, 64, 3], -1, 1, 'float32', 9) as tf.Tensor4D);
    const run = (norm: NormKind): Float32Array[] => {
      const cfg = tinyModelConfig({ depth: 18, widthMultiplier: 1, norm });
      const model = buildRetinaNet(cfg, new Rng(0));
      loadPretrained(model, weights, { file: 'resnet18.pth', norm, psbnAlpha: 0.1 });
      const c = model.backbone.forward(x, { training: false });
      const out = [c.c3, c.c4, c.c5].map((t) => t.dataSync() as Float32Array);
      tf.dispose([c.c3, c.c4, c.c5]);
      model.dispose();
      return out;
    };
    expect(maxRelative(run('psbn'), run('bn'))).toBeLessThan(1e-5);
    tf.dispose(x);
  });
});
