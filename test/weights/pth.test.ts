import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/index.js';
import { buildBackbone, buildRetinaNet } from '../../src/model/build.js';
import { Rng } from '../../src/util/rng.js';
import { parseTorchCheckpoint } from '../../src/weights/pth.js';
import { readSafetensors } from '../../src/weights/safetensors.js';
import { readTorchCheckpoint, readWeightsFile } from '../../src/weights/state-dict.js';
import { loadTorchvisionWeights, namedTensors } from '../../src/weights/torchvision.js';
import { parityFixture, parityModelConfig, relativeError } from '../model/parity-fixture.js';
import { tinyModelConfig } from '../model/tiny.js';
import { PTH_DIR, PTH_SKIP, pthFixtures, referenceTensors } from './pth-fixture.js';

const pth = (name: string): string => join(PTH_DIR, `${name}.pth`);

describe.skipIf(PTH_SKIP !== '')(`PyTorch checkpoints written by torch.save ${PTH_SKIP}`, () => {
  beforeAll(() => {
    pthFixtures();
  });

  // The reference is what torch.load gives back, written contiguous with element types kept.
  for (const name of ['mixed', 'nested', 'legacy', 'resnet18', 'resnet50', 'retinanet-small']) {
    it(`${name}.pth loads to exactly the tensors PyTorch holds: names, order, dtypes, shapes, bytes`, () => {
      const sd = readTorchCheckpoint(pth(name));
      const ref = referenceTensors(join(PTH_DIR, `${name}.safetensors`));
      expect([...sd.tensors.keys()]).toEqual([...ref.keys()]);
      for (const [k, r] of ref) {
        const t = sd.tensors.get(k)!;
        expect(t.dtype, k).toBe(r.dtype);
        expect(t.shape, k).toEqual(r.shape);
        expect(Buffer.compare(Buffer.from(t.data), Buffer.from(r.bytes)), `${k} bytes`).toBe(0);
      }
      expect(sd.nestedUnder).toBe(name === 'nested' ? 'model' : null);
    });
  }

  it('gathers non-contiguous tensors in row-major order (transposed, permuted, sliced at a storage offset)', () => {
    const t = readWeightsFile(pth('mixed')).tensors;
    // base = randn(6, 5); transposed = base.t(), sliced = base[2:5, 1:4]: both views of one storage.
    const transposed = t.get('transposed')!.values;
    const sliced = t.get('sliced')!.values;
    expect(t.get('transposed')!.shape).toEqual([5, 6]);
    // transposed[c][r] = base[r][c]; sliced[i][j] = base[2 + i][1 + j] = transposed[1 + j][2 + i]
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) expect(sliced[i * 3 + j]).toBe(transposed[(1 + j) * 6 + 2 + i]);
    expect(Array.from(t.get('view_b')!.values)).toEqual(Array.from({ length: 12 }, (_, i) => 12 + i));
    expect(t.get('scalar')!.shape).toEqual([]);
    expect(Array.from(t.get('scalar')!.values)).toEqual([2.5]);
    expect(Array.from(t.get('i64')!.values)).toEqual([0, -1, 2 ** 31 - 1, -(2 ** 31), 123456789]);
  });

  it('refuses a pickle that names a global outside the allow-list, and runs none of it', () => {
    expect(() => readTorchCheckpoint(pth('unsafe'))).toThrow(/unsafe\.pth.*global posix\.system.*not on the allow-list/);
    expect(existsSync(join(PTH_DIR, 'unsafe-ran'))).toBe(false);
  });

  it('a truncated file is one line naming the file', () => {
    const bytes = readFileSync(pth('resnet18'));
    const cut = (n: number): string => {
      try {
        parseTorchCheckpoint(bytes.subarray(0, n), 'cut.pth');
      } catch (err) {
        return (err as Error).message;
      }
      return 'no error';
    };
    for (const n of [bytes.length - 10, Math.floor(bytes.length / 2), 100]) {
      const message = cut(n);
      expect(message).toMatch(/^cut\.pth: truncated/);
      expect(message).not.toContain('\n');
    }
    const legacy = readFileSync(pth('legacy'));
    expect(() => parseTorchCheckpoint(legacy.subarray(0, legacy.length - 20), 'cut-legacy.pth')).toThrow(/^cut-legacy\.pth: truncated legacy checkpoint \(storage \d+/);
  });

  it('a ResNet-50 state dict loads into a psdet backbone (every parameter and buffer; fc ignored)', () => {
    const backbone = buildBackbone(tinyModelConfig({ depth: 50, widthMultiplier: 1 }), new Rng(0));
    const weights = readWeightsFile(pth('resnet50'));
    const report = loadTorchvisionWeights(backbone, weights, 'resnet', { file: pth('resnet50') });
    expect(report.missing).toEqual([]);
    expect(report.loaded.length).toBe(backbone.params().length + backbone.buffers().length);
    // conv1.weight OIHW [64, 3, 7, 7] -> stem HWIO [7, 7, 3, 64]: element (o=5, i=2, h=3, w=4)
    const stem = backbone.params().find((p) => p.name === 'stem.conv.weight')!.variable.arraySync() as number[][][][];
    expect(stem[3]![4]![2]![5]).toBe(weights.tensors.get('conv1.weight')!.values[((5 * 3 + 2) * 7 + 3) * 7 + 4]);
    backbone.dispose();
  });

  describe('a RetinaNet loaded from a .pth gives torchvision outputs', () => {
    beforeAll(async () => {
      await selectBackend('wasm');
    });
    afterAll(async () => {
      await selectBackend('cpu');
    });
    it('weights equal the parity fixture bit for bit, and logits / deltas agree within 1e-4', async () => {
      const fx = parityFixture('small');
      const fromPth = buildRetinaNet(parityModelConfig(fx.meta), new Rng(1));
      const fromSafetensors = buildRetinaNet(parityModelConfig(fx.meta), new Rng(2));
      expect(loadTorchvisionWeights(fromPth, readWeightsFile(pth('retinanet-small')), 'retinanet').missing).toEqual([]);
      loadTorchvisionWeights(fromSafetensors, readSafetensors(join(PTH_DIR, '..', 'parity-small', 'weights.safetensors')), 'retinanet');
      const a = await namedTensors(fromPth);
      const b = await namedTensors(fromSafetensors);
      for (const [name, t] of a) expect(Buffer.compare(Buffer.from(t.values.buffer), Buffer.from(b.get(name)!.values.buffer)), name).toBe(0);
      const input = fx.outputs.tensors.get('input')!;
      const x = tf.tensor4d(input.values, input.shape as [number, number, number, number]);
      const out = fromPth.forward(x, { training: false });
      expect(relativeError(out.clsLogits.dataSync(), fx.outputs.tensors.get('cls_logits')!.values)).toBeLessThan(1e-4);
      expect(relativeError(out.boxDeltas.dataSync(), fx.outputs.tensors.get('box_deltas')!.values)).toBeLessThan(1e-4);
      tf.dispose([x, ...out.features, out.clsLogits, out.boxDeltas]);
      fromPth.dispose();
      fromSafetensors.dispose();
    });
  });
});
