import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { ActivationProbe, NormView, ReluSite } from '../../src/analysis/probe.js';
import type { ResNetDepth } from '../../src/config/types.js';
import { ResNet, scaledWidth, type NormSpec } from '../../src/model/resnet.js';
import { Rng } from '../../src/util/rng.js';

const bnSpec: NormSpec = { kind: 'bn', options: {} };

function tiny(depth: ResNetDepth, frozenStages = 0, norm: NormSpec = bnSpec): ResNet {
  return new ResNet({ depth, widthMultiplier: 1 / 16, norm, frozenStages, rng: new Rng(1) });
}

class RecordingProbe implements ActivationProbe {
  readonly sites: { site: ReluSite; shape: number[]; hasNorm: boolean }[] = [];
  observe(site: ReluSite, preRelu: tf.Tensor4D, norm?: NormView): void {
    this.sites.push({ site, shape: preRelu.shape, hasNorm: norm !== undefined });
  }
}

describe('ResNet', () => {
  it('scales widths and rounds them, at least 1', () => {
    expect(scaledWidth(64, 1 / 16)).toBe(4);
    expect(scaledWidth(64, 0.01)).toBe(1);
    expect(scaledWidth(64, 0.3)).toBe(19); // 19.2
  });

  for (const [depth, outChannels] of [
    [18, [8, 16, 32]], // basic: planes 64..512 / 16 = 4, 8, 16, 32; C3..C5 = res3..res5
    [50, [32, 64, 128]], // bottleneck: 4 * (8, 16, 32)
  ] as [ResNetDepth, number[]][]) {
    it(`ResNet-${depth} gives C3..C5 at strides 8, 16, 32 with ${outChannels.join('/')} channels`, () => {
      const net = tiny(depth);
      expect(net.outChannels).toEqual(outChannels);
      const x = tf.zeros([2, 64, 96, 3]) as tf.Tensor4D;
      const { c3, c4, c5 } = net.forward(x, { training: false });
      expect(c3.shape).toEqual([2, 8, 12, outChannels[0]]);
      expect(c4.shape).toEqual([2, 4, 6, outChannels[1]]);
      expect(c5.shape).toEqual([2, 2, 3, outChannels[2]]);
      tf.dispose([x, c3, c4, c5]);
      net.dispose();
    });
  }

  it('odd input sizes follow torch conv / pool arithmetic (65 -> 33 -> 17 -> 9 -> 5 -> 3)', () => {
    const net = tiny(18);
    const x = tf.zeros([1, 65, 65, 3]) as tf.Tensor4D;
    const { c3, c4, c5 } = net.forward(x, { training: false });
    expect([c3.shape[1], c4.shape[1], c5.shape[1]]).toEqual([9, 5, 3]);
    tf.dispose([x, c3, c4, c5]);
    net.dispose();
  });

  it('names parameters by what they are', () => {
    const net = tiny(50);
    const names = net.params().map((p) => p.name);
    expect(names.slice(0, 3)).toEqual(['stem.conv.weight', 'stem.bn.gamma', 'stem.bn.beta']);
    expect(names).toContain('res2.0.conv3.weight');
    expect(names).toContain('res2.0.downsample.conv.weight');
    expect(names).toContain('res5.2.bn3.beta');
    expect(names).not.toContain('res2.1.downsample.conv.weight');
    expect(net.buffers().map((b) => b.name)).toContain('res4.5.bn2.running_var');
    net.dispose();
  });

  // torchvision's _resnet_fpn_extractor(trainable_layers = 5 - frozenStages), counted on resnet18 / resnet50 with
  // BatchNorm2d: stem 3 params, res2 12 / 30, res3..5 15 each / 39, 57, 30.
  const FROZEN_COUNTS: Record<number, number[]> = {
    18: [60, 57, 45, 30, 15, 0],
    50: [159, 156, 126, 87, 30, 0],
  };
  for (const depth of [18, 50] as ResNetDepth[]) {
    it(`ResNet-${depth}: trainable parameter counts for frozenStages 0..5 match torchvision`, () => {
      const counts = [0, 1, 2, 3, 4, 5].map((frozen) => {
        const net = tiny(depth, frozen);
        const params = net.params();
        // The flag we report and the one tfjs' variableGrads reads agree.
        expect(params.every((p) => p.trainable === p.variable.trainable)).toBe(true);
        const n = params.filter((p) => p.trainable).length;
        net.dispose();
        return n;
      });
      expect(counts).toEqual(FROZEN_COUNTS[depth]);
    });
  }

  it('frozen stages use running statistics in training; the others use batch statistics', () => {
    const net = tiny(18, 2);
    expect(net.stem.norm.usesBatchStats).toBe(false);
    expect(net.stages[0].blocks[0]!.norms().every((n) => !n.usesBatchStats)).toBe(true);
    expect(net.stages[1].blocks[0]!.norms().every((n) => n.usesBatchStats)).toBe(true);
    net.dispose();
  });

  it('FrozenBN and non-trainable affine: no norm parameter trains', () => {
    for (const norm of [
      { kind: 'frozen_bn' as const, options: {} },
      { kind: 'bn' as const, options: { affineTrainable: false } },
    ]) {
      const net = tiny(18, 0, norm);
      const trainable = net.params().filter((p) => p.trainable);
      expect(trainable.length).toBe(20); // the 20 convs of ResNet-18 (17 + 3 downsample)
      expect(trainable.every((p) => p.kind === 'weight')).toBe(true);
      net.dispose();
    }
  });

  it('shows every ReLU site to the probe with stage names, the norm view where a norm feeds it', () => {
    const net = tiny(18);
    const probe = new RecordingProbe();
    const x = tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
    tf.dispose(Object.values(net.forward(x, { training: false, probe })));
    const names = probe.sites.map((s) => s.site.name);
    expect(names.slice(0, 5)).toEqual([
      'backbone.stem.relu',
      'backbone.res2.0.relu1',
      'backbone.res2.0.relu_out',
      'backbone.res2.1.relu1',
      'backbone.res2.1.relu_out',
    ]);
    // 1 stem + 8 blocks x 2 sites.
    expect(probe.sites.length).toBe(17);
    expect(probe.sites.filter((s) => s.site.stage === 'res3').length).toBe(4);
    for (const s of probe.sites) expect(s.hasNorm).toBe(!s.site.name.endsWith('relu_out'));
    expect(probe.sites[0]!.shape).toEqual([1, 32, 32, 4]);
    x.dispose();
    net.dispose();
  });

  it('bottleneck blocks have three sites each (relu1, relu2 with norms, relu_out without)', () => {
    const net = tiny(50);
    const probe = new RecordingProbe();
    const x = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    tf.dispose(Object.values(net.forward(x, { training: false, probe })));
    expect(probe.sites.length).toBe(1 + 16 * 3);
    expect(probe.sites.slice(1, 4).map((s) => [s.site.name, s.hasNorm])).toEqual([
      ['backbone.res2.0.relu1', true],
      ['backbone.res2.0.relu2', true],
      ['backbone.res2.0.relu_out', false],
    ]);
    x.dispose();
    net.dispose();
  });

  it('leaks no tensor in forward (train and eval), backward, or dispose', () => {
    const before = tf.memory().numTensors;
    const net = tiny(18);
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const afterBuild = tf.memory().numTensors;
    for (const training of [true, false]) tf.dispose(Object.values(net.forward(x, { training })));
    const { value, grads } = tf.variableGrads(() => {
      const { c3, c4, c5 } = net.forward(x, { training: true });
      return tf.addN([tf.sum(c3), tf.sum(c4), tf.sum(c5)]) as tf.Scalar;
    });
    expect(Object.keys(grads).length).toBe(60);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(afterBuild);
    x.dispose();
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
