import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import type { OptimizerKind } from '../../src/config/types.js';
import type { NamedParam } from '../../src/model/module.js';
import { clipGradients, globalNorm, Optimizer, paramGroups, type OptimizerSettings } from '../../src/train/optimizer.js';

const created: tf.Variable[] = [];
afterEach(() => {
  for (const v of created.splice(0)) v.dispose();
});

function param(name: string, values: number[], kind: NamedParam['kind'] = 'weight', trainable = true): NamedParam {
  const variable = tf.variable(tf.tensor1d(values), true);
  created.push(variable);
  return { name, variable, kind, trainable };
}

function settings(optimizer: OptimizerKind, wd = 0.1): OptimizerSettings {
  return { ...defaultConfig().solver, optimizer, weightDecay: wd, weightDecayBias: wd, weightDecayNorm: wd };
}

/** Three steps with the gradients and rates of tools/optimizer_reference.py. */
function runThreeSteps(kind: OptimizerKind): Float32Array {
  const p = param('p', [1, -2, 0.5]);
  const opt = new Optimizer([p], settings(kind));
  const grads = [
    [0.5, -1, 2],
    [0.25, 0.75, -1.5],
    [-0.125, 0.5, 1],
  ];
  const lrs = [0.1, 0.05, 0.02];
  grads.forEach((g, i) => {
    const grad = tf.tensor1d(g);
    opt.step({ [p.variable.name]: grad }, lrs[i]!);
    grad.dispose();
  });
  opt.dispose();
  return p.variable.dataSync() as Float32Array;
}

describe('Optimizer', () => {
  it('SGD momentum 0.9 with weight decay matches the hand computation and PyTorch', () => {
    // Element 0: step 1 d = 0.5 + 0.1 * 1 = 0.6, buf = 0.6, p = 1 - 0.1 * 0.6 = 0.94
    //            step 2 d = 0.25 + 0.094 = 0.344, buf = 0.54 + 0.344 = 0.884, p = 0.94 - 0.05 * 0.884 = 0.8958
    //            step 3 d = -0.125 + 0.08958 = -0.03542, buf = 0.7956 - 0.03542 = 0.76018, p = 0.8958 - 0.0152036
    //            = 0.8805964. PyTorch 1.13 (tools/optimizer_reference.py): 0.880596399307251.
    const p = runThreeSteps('sgd');
    const torch = [0.880596399307251, -1.8510677814483643, 0.24898143112659454];
    torch.forEach((v, i) => expect(p[i]).toBeCloseTo(v, 6));
    expect(p[0]).toBeCloseTo(0.8805964, 6);
  });

  it('Adam with L2 decay matches PyTorch', () => {
    const p = runThreeSteps('adam');
    const torch = [0.8385795950889587, -1.883912205696106, 0.387798935174942];
    torch.forEach((v, i) => expect(p[i]).toBeCloseTo(v, 6));
  });

  it('AdamW with decoupled decay matches PyTorch', () => {
    const p = runThreeSteps('adamw');
    const torch = [0.8259899616241455, -1.8658677339553833, 0.38175126910209656];
    torch.forEach((v, i) => expect(p[i]).toBeCloseTo(v, 6));
  });

  it('first Adam step moves every element by lr regardless of the gradient scale', () => {
    // No decay: m = 0.1 g, v = 0.001 g^2; m / (1 - 0.9) = g, sqrt(v / (1 - 0.999)) = |g|, so p -= lr * sign(g).
    const p = param('p', [0, 0]);
    const opt = new Optimizer([p], settings('adam', 0));
    const g = tf.tensor1d([1000, -0.001]);
    opt.step({ [p.variable.name]: g }, 0.5);
    const out = p.variable.dataSync();
    expect(out[0]).toBeCloseTo(-0.5, 5);
    expect(out[1]).toBeCloseTo(0.5, 2); // eps 1e-8 against |g| = 1e-3: 0.5 * 1e-3 / (1e-3 + 1e-8) = 0.499995
    g.dispose();
    opt.dispose();
  });

  it('puts weights, biases and norm params in groups with their own decay and skips frozen ones', () => {
    const params = [
      param('conv.weight', [1], 'weight'),
      param('conv.bias', [1], 'bias'),
      param('bn.weight', [1], 'norm'),
      param('stem.weight', [1], 'weight', false),
    ];
    const s = { ...settings('sgd'), weightDecay: 1e-4, weightDecayBias: 0, weightDecayNorm: 0.5 };
    const groups = paramGroups(params, s);
    expect(groups.map((g) => [g.kind, g.weightDecay, g.params.map((p) => p.name)])).toEqual([
      ['weight', 1e-4, ['conv.weight']],
      ['bias', 0, ['conv.bias']],
      ['norm', 0.5, ['bn.weight']],
    ]);
    // One SGD step, lr 1, gradient 0: only decay moves the values. norm: 1 - 1 * (0 + 0.5 * 1) = 0.5;
    // bias: unchanged; weight: 1 - 1e-4; the frozen weight is never touched even with a gradient.
    const opt = new Optimizer(params, s);
    const zero = tf.tensor1d([0]);
    const grads = Object.fromEntries(params.map((p) => [p.variable.name, zero]));
    opt.step(grads, 1);
    expect(params.map((p) => p.variable.dataSync()[0])).toEqual([
      Math.fround(1 - 1e-4),
      1,
      0.5,
      1,
    ]);
    zero.dispose();
    opt.dispose();
  });

  it('saves and restores its state so two optimizers continue identically', () => {
    const a = param('a', [1, 2]);
    const b = param('b', [1, 2]);
    const optA = new Optimizer([a], settings('adam'));
    const g = tf.tensor1d([0.3, -0.7]);
    optA.step({ [a.variable.name]: g }, 0.1);
    // b copies a's value and optimizer state, then both take the same step
    b.variable.assign(a.variable);
    const optB = new Optimizer([{ ...b, name: 'a' }], settings('adam'));
    optB.loadState(optA.state(), 'test');
    optA.step({ [a.variable.name]: g }, 0.1);
    optB.step({ [b.variable.name]: g }, 0.1);
    expect(Array.from(b.variable.dataSync())).toEqual(Array.from(a.variable.dataSync()));
    expect(() => new Optimizer([{ ...b, name: 'a' }], settings('sgd')).loadState(optA.state(), 'ckpt')).toThrow(
      'ckpt: optimizer state is for "adam" but this run uses "sgd"',
    );
    g.dispose();
    optA.dispose();
    optB.dispose();
  });

  it('does not grow the tensor count across steps', () => {
    const p = param('p', [1, 2, 3]);
    const opt = new Optimizer([p], settings('adamw'));
    const g = tf.tensor1d([1, 1, 1]);
    opt.step({ [p.variable.name]: g }, 0.1);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) opt.step({ [p.variable.name]: g }, 0.1);
    expect(tf.memory().numTensors).toBe(before);
    g.dispose();
    opt.dispose();
  });
});

describe('gradient clipping', () => {
  it('matches clip_grad_norm_: norm of (3, 4, 12) is 13, scaled by 6.5 / (13 + 1e-6)', () => {
    const grads = { p: tf.tensor1d([3, 4]), q: tf.tensor1d([12]) };
    const normT = globalNorm(grads);
    const norm = normT.dataSync()[0]!;
    expect(norm).toBe(13); // sqrt(9 + 16 + 144)
    const clipped = clipGradients(grads, norm, 6.5);
    // PyTorch 1.13: [1.4999998807907104, 1.9999998807907104], [5.999999523162842]
    expect(clipped.p!.dataSync()[0]).toBeCloseTo(1.4999998807907104, 6);
    expect(clipped.q!.dataSync()[0]).toBeCloseTo(5.999999523162842, 6);
    expect(clipGradients(grads, norm, 20)).toBe(grads); // under the limit: untouched
    expect(clipGradients(grads, norm, 0)).toBe(grads); // 0 = off
    tf.dispose([normT, ...Object.values(grads), ...Object.values(clipped)]);
  });
});
