import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { buildBackbone, buildRetinaNet } from '../../src/model/build.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsFile } from '../../src/weights/safetensors.js';
import { loadTorchvisionWeights, namedTensors, toTorchvisionTensors, torchvisionNames } from '../../src/weights/torchvision.js';
import { tinyModelConfig } from '../model/tiny.js';

describe('torchvision names', () => {
  it('maps backbone, FPN and head names, with the older checkpoint spellings as fallbacks', () => {
    expect(torchvisionNames('stem.conv.weight', 'resnet')).toEqual(['conv1.weight']);
    expect(torchvisionNames('stem.bn.gamma', 'resnet')).toEqual(['bn1.weight']);
    expect(torchvisionNames('res2.0.bn3.running_var', 'resnet')).toEqual(['layer1.0.bn3.running_var']);
    expect(torchvisionNames('res5.0.downsample.conv.weight', 'resnet')).toEqual(['layer4.0.downsample.0.weight']);
    expect(torchvisionNames('res3.1.downsample.bn.beta', 'resnet')).toEqual(['layer2.1.downsample.1.bias']);
    expect(torchvisionNames('backbone.res4.5.conv2.weight', 'retinanet')).toEqual(['backbone.body.layer3.5.conv2.weight']);
    expect(torchvisionNames('fpn.lateral3.weight', 'retinanet')).toEqual(['backbone.fpn.inner_blocks.0.0.weight', 'backbone.fpn.inner_blocks.0.weight']);
    expect(torchvisionNames('fpn.output5.bias', 'retinanet')[0]).toBe('backbone.fpn.layer_blocks.2.0.bias');
    expect(torchvisionNames('fpn.p7.weight', 'retinanet')).toEqual(['backbone.fpn.extra_blocks.p7.weight']);
    expect(torchvisionNames('head.cls.tower.3.bias', 'retinanet')).toEqual(['head.classification_head.conv.3.0.bias', 'head.classification_head.conv.3.bias']);
    expect(torchvisionNames('head.cls.logits.weight', 'retinanet')).toEqual(['head.classification_head.cls_logits.weight']);
    expect(torchvisionNames('head.box.deltas.bias', 'retinanet')).toEqual(['head.regression_head.bbox_reg.bias']);
    expect(torchvisionNames('head.unknown.weight', 'retinanet')).toEqual([]);
  });
});

async function asFile(tensors: Map<string, { shape: number[]; values: Float32Array | Int32Array }>): Promise<SafetensorsFile> {
  return parseSafetensors(serializeSafetensors(tensors));
}

describe('loading torchvision weights', () => {
  it('round-trips a RetinaNet through torchvision names: OIHW out, HWIO back in, every value equal', async () => {
    const cfg = tinyModelConfig();
    const source = buildRetinaNet(cfg, new Rng(1));
    const target = buildRetinaNet(cfg, new Rng(2));
    const tv = await toTorchvisionTensors(source, 'retinanet');
    // A conv kernel goes out as OIHW: the stem's HWIO [7, 7, 3, 4] is [4, 3, 7, 7] there.
    expect(tv.get('backbone.body.conv1.weight')!.shape).toEqual([4, 3, 7, 7]);
    const file = await asFile(tv);
    file.tensors.set('backbone.body.bn1.num_batches_tracked', { dtype: 'I64', shape: [], values: Int32Array.from([3]) });
    const report = loadTorchvisionWeights(target, file, 'retinanet');
    expect(report.missing).toEqual([]);
    expect(report.unexpected).toEqual([]);
    expect(report.loaded.length).toBe(source.params().length + source.buffers().length);
    const a = await namedTensors(source);
    const b = await namedTensors(target);
    for (const [name, t] of a) expect(Array.from(b.get(name)!.values), name).toEqual(Array.from(t.values));
    // Element check of the transpose: HWIO [kh, kw, i, o] = OIHW [o, i, kh, kw].
    const hwio = await source.backbone.stem.params()[0]!.variable.array() as number[][][][];
    const oihw = tv.get('backbone.body.conv1.weight')!.values;
    expect(oihw[((2 * 3 + 1) * 7 + 5) * 7 + 6]).toBe(hwio[5]![6]![1]![2]);
    source.dispose();
    target.dispose();
  });

  it('loads an ImageNet-style ResNet checkpoint into a backbone, ignoring fc and num_batches_tracked', async () => {
    const cfg = tinyModelConfig({ depth: 50 });
    const source = buildBackbone(cfg, new Rng(3));
    const target = buildBackbone(cfg, new Rng(4));
    const tv = await toTorchvisionTensors(source, 'resnet');
    tv.set('fc.weight', { shape: [10, 128], values: new Float32Array(1280) });
    tv.set('fc.bias', { shape: [10], values: new Float32Array(10) });
    const report = loadTorchvisionWeights(target, await asFile(tv), 'resnet');
    expect(report.unexpected).toEqual([]);
    expect(Array.from(target.stem.norm.runningVar.dataSync())).toEqual(Array.from(source.stem.norm.runningVar.dataSync()));
    source.dispose();
    target.dispose();
  });

  it('reports missing and unexpected names clearly, and shape mismatches as errors naming both tensors', async () => {
    const cfg = tinyModelConfig();
    const model = buildRetinaNet(cfg, new Rng(1));
    const tv = await toTorchvisionTensors(model, 'retinanet');
    tv.delete('head.regression_head.bbox_reg.bias');
    tv.set('head.extra.weight', { shape: [1], values: new Float32Array(1) });
    const file = await asFile(tv);
    expect(() => loadTorchvisionWeights(model, file, 'retinanet', { file: 'ckpt.safetensors' })).toThrow(
      'ckpt.safetensors: not a torchvision retinanet checkpoint for this model: missing for psdet head.box.deltas.bias; unexpected head.extra.weight',
    );
    const report = loadTorchvisionWeights(model, file, 'retinanet', { strict: false });
    expect(report.missing).toEqual(['head.box.deltas.bias']);
    expect(report.unexpected).toEqual(['head.extra.weight']);
    // A checkpoint for 5 classes does not fit a 3-class head: 9 * 5 = 45 logits channels vs 27.
    const other = buildRetinaNet(tinyModelConfig({ numClasses: 5 }), new Rng(1));
    const wrong = await asFile(await toTorchvisionTensors(other, 'retinanet'));
    const before = tf.memory().numTensors;
    let error: unknown;
    try {
      loadTorchvisionWeights(model, wrong, 'retinanet', { file: 'ckpt.safetensors' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toBe(
      'ckpt.safetensors: tensor "head.classification_head.cls_logits.weight" [45, 16, 3, 3] does not fit psdet "head.cls.logits.weight" [3, 3, 16, 27] (HWIO after transposing OIHW)',
    );
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    other.dispose();
  });
});
