import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/index.js';
import { defaultCategories } from '../../src/infer/coco-categories.js';
import { buildRetinaNet } from '../../src/model/build.js';
import { loadPretrained } from '../../src/weights/pretrained.js';
import { readWeightsFile } from '../../src/weights/state-dict.js';
import { ROOT } from '../helpers.js';
import { HAS_TORCHVISION, PYTHON, torchvisionSkip, parityFixture, parityModelConfig, relativeError } from '../model/parity-fixture.js';

/**
 * torchvision's retinanet_resnet50_fpn (91 class slots, random init as the r50 parity fixture seeds it), saved with
 * torch.save, loaded for COCO 2017's 80 categories: psdet's logit j must be torchvision's logit for category id_j.
 * Needs the r50 parity fixture (146 MB, ~1 min on wasm): only with PSDET_PARITY_R50=1 (`npm run parity:r50`).
 */
const RUN = HAS_TORCHVISION && process.env.PSDET_PARITY_R50 !== undefined;

describe.skipIf(!RUN)(`a torchvision COCO RetinaNet R50 .pth for COCO's 80 categories ${HAS_TORCHVISION ? '(PSDET_PARITY_R50=1 runs it)' : torchvisionSkip()}`, () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });
  afterAll(async () => {
    await selectBackend('cpu');
  });

  it('the 91 -> 80 mapped head gives torchvision\'s logits at the COCO ids, within 1e-4', () => {
    const fx = parityFixture('r50');
    const pth = join(ROOT, '.fixtures', 'pth', 'retinanet-r50.pth');
    if (!existsSync(pth)) {
      mkdirSync(join(ROOT, '.fixtures', 'pth'), { recursive: true });
      const save = `import sys, torch; sys.path.insert(0, ${JSON.stringify(join(ROOT, 'tools'))}); from safetensors_io import load_file; torch.save(load_file(sys.argv[1]), sys.argv[2])`;
      execFileSync(PYTHON, ['-c', save, join(ROOT, '.fixtures', 'parity-r50', 'weights.safetensors'), pth]);
    }
    const categories = defaultCategories(80);
    const model = buildRetinaNet(parityModelConfig({ ...fx.meta, numClasses: 80 }));
    const report = loadPretrained(model, readWeightsFile(pth), { file: pth, norm: 'bn', psbnAlpha: 0.1, categories });
    expect(report.classHead).toBe('mapped');
    const input = fx.outputs.tensors.get('input')!;
    const x = tf.tensor4d(input.values, input.shape as [number, number, number, number]);
    const out = model.forward(x, { training: false });
    const ours = out.clsLogits.dataSync();
    const theirs = fx.outputs.tensors.get('cls_logits')!.values; // [2, A, 91]
    const rows = theirs.length / 91;
    const expected = new Float32Array(rows * 80);
    for (let r = 0; r < rows; r++) categories.ids.forEach((id, j) => (expected[r * 80 + j] = theirs[r * 91 + id]!));
    expect(relativeError(ours, expected)).toBeLessThan(1e-4);
    expect(relativeError(out.boxDeltas.dataSync(), fx.outputs.tensors.get('box_deltas')!.values)).toBeLessThan(1e-4);
    tf.dispose([x, ...out.features, out.clsLogits, out.boxDeltas]);
    model.dispose();
  });
});
