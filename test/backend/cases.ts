/**
 * Every op the detector's training step differentiates, written as the model and losses write them, each with a
 * float64 reference. Small shapes: finite differences cost two reference evaluations per input element.
 */
import * as tf from '@tensorflow/tfjs-core';
import { giouLoss, sigmoidFocalLoss } from '../../src/model/losses.js';
import { maxPool3x3s2, upsampleNearest2x, upsampleNearestTo } from '../../src/model/ops.js';
import { Rng } from '../../src/util/rng.js';
import type { GradCase } from './gradcheck.js';
import {
  channelMoments,
  conv2dRef,
  map,
  maxPoolRef,
  randn,
  sigmoid,
  size,
  softplus,
  upsample2xRef,
  type Arr,
  type Pads,
} from './reference.js';

type Pad4 = [[number, number], [number, number], [number, number], [number, number]];
const explicit = (p: Pads): Pad4 => [[0, 0], [p[0], p[1]], [p[2], p[3]], [0, 0]];

function convCase(name: string, seed: number, x: number[], k: number, co: number, stride: number, pads: Pads, tfPad?: 'same' | 'valid'): GradCase {
  const rng = new Rng(seed);
  const ci = x[3]!;
  return {
    name,
    inputs: [randn(rng, x), randn(rng, [k, k, ci, co], 0.5)],
    op: (xt, wt) => tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, stride, tfPad ?? explicit(pads)),
    ref: ([xa, wa]) => conv2dRef(xa!, wa!, stride, pads),
  };
}

function addBias(y: Arr, b: Arr): Arr {
  const c = b.data.length;
  return map(y, (v, i) => v + b.data[i % c]!);
}

/** Reduces over the given axes (keepDims false) with a combining function. */
function reduceRef(x: Arr, axes: number[], init: number, f: (acc: number, v: number) => number, finish = (v: number) => v): Arr {
  const keep = x.shape.map((_, i) => !axes.includes(i));
  const outShape = x.shape.filter((_, i) => keep[i]);
  const out = new Float64Array(size(outShape)).fill(init);
  const idx = new Array<number>(x.shape.length).fill(0);
  for (let i = 0; i < x.data.length; i++) {
    let o = 0;
    for (let d = 0; d < x.shape.length; d++) if (keep[d]) o = o * x.shape[d]! + idx[d]!;
    out[o] = f(out[o]!, x.data[i]!);
    for (let d = x.shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < x.shape[d]!) break;
      idx[d] = 0;
    }
  }
  return { shape: outShape, data: out.map(finish) };
}

/** Batch norm with the given per-channel statistics: (x - mean) / sqrt(var + eps) * gamma + beta. */
function batchNormRef(x: Arr, mean: ArrayLike<number>, variance: ArrayLike<number>, gamma: Arr, beta: Arr, eps: number): Arr {
  const c = gamma.data.length;
  return map(x, (v, i) => ((v - mean[i % c]!) / Math.sqrt(variance[i % c]! + eps)) * gamma.data[i % c]! + beta.data[i % c]!);
}

const EPS = 1e-5;
const ALPHA = 0.25;
const GAMMA = 2;

export function detectorCases(): GradCase[] {
  const cases: GradCase[] = [
    convCase('conv2d 1x1 stride 1', 1, [2, 4, 4, 3], 1, 4, 1, [0, 0, 0, 0], 'valid'),
    convCase("conv2d 3x3 stride 1 'same'", 2, [2, 5, 5, 3], 3, 4, 1, [1, 1, 1, 1], 'same'),
    convCase('conv2d 3x3 stride 1 pad 1', 3, [2, 5, 4, 3], 3, 2, 1, [1, 1, 1, 1]),
    convCase('conv2d 3x3 stride 2 pad 1 (even size)', 4, [2, 6, 6, 3], 3, 2, 2, [1, 1, 1, 1]),
    convCase("conv2d 3x3 stride 2 'same' (odd size)", 5, [2, 7, 7, 2], 3, 3, 2, [1, 1, 1, 1], 'same'),
    // tfjs 'same' pads an even input asymmetrically for stride 2 (0 top, 1 bottom), unlike torchvision's pad 1
    convCase("conv2d 3x3 stride 2 'same' (even size)", 6, [2, 6, 6, 2], 3, 2, 2, [0, 1, 0, 1], 'same'),
    convCase('conv2d 7x7 stride 2 pad 3 (stem)', 7, [1, 9, 9, 2], 7, 3, 2, [3, 3, 3, 3]),
    convCase('conv2d 1x1 stride 2 (downsample)', 8, [2, 6, 6, 3], 1, 4, 2, [0, 0, 0, 0], 'valid'),
    // P6 -> P7 on a small image: inputs smaller than the stride leave whole phases of the input gradient empty
    convCase('conv2d 3x3 stride 2 pad 1 on a 1x2 input', 15, [2, 1, 2, 3], 3, 2, 2, [1, 1, 1, 1]),
    convCase('conv2d 1x1 stride 2 on a 1x1 input', 16, [2, 1, 1, 3], 1, 2, 2, [0, 0, 0, 0], 'valid'),
  ];

  {
    const rng = new Rng(9);
    cases.push({
      name: 'conv2d 3x3 + bias',
      inputs: [randn(rng, [2, 5, 5, 3]), randn(rng, [3, 3, 3, 4], 0.5), randn(rng, [4])],
      op: (x, w, b) => tf.add(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, explicit([1, 1, 1, 1])), b!),
      ref: ([x, w, b]) => addBias(conv2dRef(x!, w!, 1, [1, 1, 1, 1]), b!),
    });
    cases.push({
      name: 'fused conv2d 3x3 stride 2 + bias + relu',
      inputs: [randn(rng, [2, 6, 6, 3]), randn(rng, [3, 3, 3, 4], 0.5), randn(rng, [4])],
      op: (x, w, b) =>
        tf.fused.conv2d({
          x: x as tf.Tensor4D,
          filter: w as tf.Tensor4D,
          strides: 2,
          pad: explicit([1, 1, 1, 1]),
          bias: b,
          activation: 'relu',
        }),
      ref: ([x, w, b]) => map(addBias(conv2dRef(x!, w!, 2, [1, 1, 1, 1]), b!), (v) => Math.max(v, 0)),
    });
  }

  {
    const rng = new Rng(10);
    cases.push({
      name: 'batch norm, training (batch moments)',
      inputs: [randn(rng, [4, 3, 3, 5], 2, 0.5), randn(rng, [5], 0.5, 1), randn(rng, [5])],
      op: (x, g, b) => {
        const { mean, variance } = tf.moments(x!, [0, 1, 2]);
        return tf.batchNorm(x!, mean, variance, b, g, EPS);
      },
      ref: ([x, g, b]) => {
        const { mean, variance } = channelMoments(x!);
        return batchNormRef(x!, mean, variance, g!, b!, EPS);
      },
    });
    const runningMean = randn(rng, [5]).data;
    const runningVar = Float64Array.from(randn(rng, [5]).data, (v) => Math.fround(0.5 + v * v));
    cases.push({
      name: 'batch norm, eval (running statistics)',
      inputs: [randn(rng, [2, 3, 3, 5]), randn(rng, [5], 0.5, 1), randn(rng, [5])],
      op: (x, g, b) => tf.batchNorm(x!, tf.tensor1d(Float32Array.from(runningMean)), tf.tensor1d(Float32Array.from(runningVar)), b, g, EPS),
      ref: ([x, g, b]) => batchNormRef(x!, runningMean, runningVar, g!, b!, EPS),
    });
  }

  {
    const rng = new Rng(11);
    cases.push({
      name: 'relu',
      inputs: [randn(rng, [2, 3, 3, 4])],
      op: (x) => tf.relu(x!),
      ref: ([x]) => map(x!, (v) => Math.max(v, 0)),
    });
    cases.push({
      name: 'max pool 3x3 stride 2 pad 1 (torchvision stem), batch 2, 3 channels',
      inputs: [randn(rng, [2, 6, 6, 3])],
      op: (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 1),
      ref: ([x]) => maxPoolRef(x!, 3, 2, [1, 1, 1, 1]),
    });
    cases.push({
      name: 'max pool 3x3 stride 2 pad 1, odd size',
      inputs: [randn(rng, [2, 7, 5, 2])],
      op: (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, explicit([1, 1, 1, 1])),
      ref: ([x]) => maxPoolRef(x!, 3, 2, [1, 1, 1, 1]),
    });
    cases.push({
      name: 'add (residual) and add with broadcast (bias)',
      inputs: [randn(rng, [2, 3, 3, 4]), randn(rng, [2, 3, 3, 4]), randn(rng, [4])],
      op: (a, b, c) => tf.add(tf.add(a!, b!), c!),
      ref: ([a, b, c]) => map(a!, (v, i) => v + b!.data[i]! + c!.data[i % 4]!),
    });
    cases.push({
      name: 'nearest 2x upsample (stack + reshape), batch 2',
      inputs: [randn(rng, [2, 3, 2, 3])],
      op: (x) => upsampleNearest2x(x as tf.Tensor4D),
      ref: ([x]) => upsample2xRef(x!),
    });
    cases.push({
      name: 'concat along anchors',
      inputs: [randn(rng, [2, 5, 3]), randn(rng, [2, 4, 3])],
      op: (a, b) => tf.concat([a!, b!], 1),
      ref: ([a, b]) => {
        const out = new Float64Array(2 * 9 * 3);
        for (let n = 0; n < 2; n++) {
          out.set(a!.data.subarray(n * 15, n * 15 + 15), n * 27);
          out.set(b!.data.subarray(n * 12, n * 12 + 12), n * 27 + 15);
        }
        return { shape: [2, 9, 3], data: out };
      },
    });
    cases.push({
      name: 'sigmoid',
      inputs: [randn(rng, [3, 7], 3)],
      op: (x) => tf.sigmoid(x!),
      ref: ([x]) => map(x!, sigmoid),
    });
    cases.push({
      name: 'softplus and log-sigmoid',
      inputs: [randn(rng, [3, 7], 4), randn(rng, [3, 7], 4)],
      op: (a, b) => tf.add(tf.softplus(a!), tf.logSigmoid(b!)),
      ref: ([a, b]) => map(a!, (v, i) => softplus(v) - softplus(-b!.data[i]!)),
    });
    cases.push({
      name: 'abs',
      inputs: [randn(rng, [4, 5])],
      op: (x) => tf.abs(x!),
      ref: ([x]) => map(x!, Math.abs),
    });
  }

  {
    // Sigmoid focal loss as RetinaNet computes it, normalised by the number of foreground anchors.
    const rng = new Rng(12);
    const shape = [2, 6, 3];
    const targets = new Float64Array(size(shape));
    for (const i of [0, 4, 11, 19, 30, 35]) targets[i] = 1;
    const numFg = 6;
    cases.push({
      name: 'sigmoid focal loss (alpha 0.25, gamma 2)',
      inputs: [randn(rng, shape, 2)],
      op: (x) => {
        const t = tf.tensor(Float32Array.from(targets), shape);
        const p = tf.sigmoid(x!);
        const ce = tf.sub(tf.softplus(x!), tf.mul(x!, t)); // binary cross-entropy with logits
        const pt = tf.add(tf.mul(p, t), tf.mul(tf.sub(1, p), tf.sub(1, t)));
        const at = tf.add(tf.mul(ALPHA, t), tf.mul(1 - ALPHA, tf.sub(1, t)));
        return tf.div(tf.sum(tf.mul(tf.mul(at, tf.square(tf.sub(1, pt))), ce)), Math.max(1, numFg));
      },
      ref: ([x]) => {
        let s = 0;
        x!.data.forEach((v, i) => {
          const t = targets[i]!;
          const p = sigmoid(v);
          const ce = t === 1 ? softplus(-v) : softplus(v);
          const pt = t === 1 ? p : 1 - p;
          s += (t === 1 ? ALPHA : 1 - ALPHA) * (1 - pt) ** GAMMA * ce;
        });
        return { shape: [], data: Float64Array.of(s / Math.max(1, numFg)) };
      },
    });
    const boxTargets = randn(rng, [8, 4]);
    const beta = 0.11;
    cases.push({
      name: 'L1 box loss',
      inputs: [randn(rng, [8, 4])],
      op: (x) => tf.sum(tf.abs(tf.sub(x!, tf.tensor(Float32Array.from(boxTargets.data), [8, 4])))),
      ref: ([x]) => ({ shape: [], data: Float64Array.of(x!.data.reduce((s, v, i) => s + Math.abs(v - boxTargets.data[i]!), 0)) }),
    });
    cases.push({
      name: 'smooth-L1 box loss (beta 0.11, branch-free)',
      inputs: [randn(rng, [8, 4], 0.2)],
      op: (x) => {
        const d = tf.abs(tf.sub(x!, tf.tensor(Float32Array.from(boxTargets.data), [8, 4])));
        const m = tf.minimum(d, beta);
        return tf.sum(tf.add(tf.div(tf.mul(tf.mul(m, m), 0.5), beta), tf.sub(d, m)));
      },
      ref: ([x]) => ({
        shape: [],
        data: Float64Array.of(
          x!.data.reduce((s, v, i) => {
            const d = Math.abs(v - boxTargets.data[i]!);
            return s + (d < beta ? (0.5 * d * d) / beta : d - 0.5 * beta);
          }, 0),
        ),
      }),
    });
  }

  {
    // Gather of matched anchors; repeated indices must accumulate their gradients.
    const rng = new Rng(13);
    const idx = [3, 1, 3, 9, 0, 3, 5];
    cases.push({
      name: 'gather of anchors (repeated indices)',
      inputs: [randn(rng, [10, 4])],
      op: (x) => tf.gather(x!, tf.tensor1d(idx, 'int32')),
      ref: ([x]) => ({ shape: [idx.length, 4], data: Float64Array.from(idx.flatMap((a) => Array.from(x!.data.subarray(a * 4, a * 4 + 4)))) }),
    });
    cases.push({
      name: 'gather along axis 1 (per image)',
      inputs: [randn(rng, [2, 6, 3])],
      op: (x) => tf.gather(x!, tf.tensor1d([5, 0, 5, 2], 'int32'), 1),
      ref: ([x]) => {
        const out: number[] = [];
        for (let n = 0; n < 2; n++) for (const a of [5, 0, 5, 2]) out.push(...x!.data.subarray((n * 6 + a) * 3, (n * 6 + a) * 3 + 3));
        return { shape: [2, 4, 3], data: Float64Array.from(out) };
      },
    });
    cases.push({
      name: 'sum over spatial axes and mean over all',
      inputs: [randn(rng, [2, 3, 4, 3]), randn(rng, [2, 3, 4, 3])],
      op: (a, b) => tf.add(tf.sum(a!, [1, 2]), tf.mean(b!)),
      ref: ([a, b]) => {
        const s = reduceRef(a!, [1, 2], 0, (acc, v) => acc + v);
        const m = b!.data.reduce((acc, v) => acc + v, 0) / b!.data.length;
        return map(s, (v) => v + m);
      },
    });
    cases.push({
      name: 'addN of 12 tensors (a global gradient norm sums one term per parameter)',
      inputs: Array.from({ length: 12 }, () => randn(rng, [2, 3])),
      op: (...xs) => tf.addN(xs.map((x) => tf.square(x))),
      ref: (xs) => map(xs[0]!, (_, i) => xs.reduce((acc, x) => acc + x.data[i]! ** 2, 0)),
    });
    cases.push({
      name: 'max over the last axis and min over the first',
      inputs: [randn(rng, [4, 5]), randn(rng, [4, 5])],
      op: (a, b) => tf.add(tf.max(a!, 1), tf.slice(tf.min(b!, 0), [0], [4])),
      ref: ([a, b]) => {
        const mx = reduceRef(a!, [1], -Infinity, Math.max);
        const mn = reduceRef(b!, [0], Infinity, Math.min);
        return map(mx, (v, i) => v + mn.data[i]!);
      },
    });
  }

  {
    // The model's own compositions (src/model): what the detector actually differentiates.
    const rng = new Rng(14);
    cases.push({
      name: 'model maxPool3x3s2 (pad + reshape + maximum), even size',
      inputs: [randn(rng, [2, 6, 8, 3])],
      op: (x) => maxPool3x3s2(x as tf.Tensor4D),
      ref: ([x]) => maxPoolRef(x!, 3, 2, [1, 1, 1, 1]),
    });
    cases.push({
      name: 'model maxPool3x3s2, odd size',
      inputs: [randn(rng, [2, 7, 5, 2])],
      op: (x) => maxPool3x3s2(x as tf.Tensor4D),
      ref: ([x]) => maxPoolRef(x!, 3, 2, [1, 1, 1, 1]),
    });
    cases.push({
      name: 'model upsampleNearestTo 3x2 -> 5x4 (odd target)',
      inputs: [randn(rng, [2, 3, 2, 3])],
      op: (x) => upsampleNearestTo(x as tf.Tensor4D, 5, 4),
      ref: ([x]) => {
        const up = upsample2xRef(x!);
        const out = new Float64Array(2 * 5 * 4 * 3);
        for (let n = 0; n < 2; n++)
          for (let i = 0; i < 5; i++) out.set(up.data.subarray(((n * 6 + i) * 4) * 3, ((n * 6 + i) * 4 + 4) * 3), ((n * 5 + i) * 4) * 3);
        return { shape: [2, 5, 4, 3], data: out };
      },
    });
    // labels: >= 0 foreground class, -1 background, -2 ignored
    const labels = [0, -1, 2, -2, -1, 1, -1, -2, 2, -1];
    cases.push({
      name: 'model sigmoidFocalLoss (foreground, background, ignored anchors)',
      inputs: [randn(rng, [2, 5, 3], 2)],
      op: (x) => sigmoidFocalLoss(x as tf.Tensor3D, tf.tensor2d(labels, [2, 5], 'int32'), ALPHA, GAMMA),
      ref: ([x]) => {
        const out = new Float64Array(2);
        x!.data.forEach((v, i) => {
          const label = labels[Math.floor(i / 3)]!;
          if (label === -2) return;
          const t = label === i % 3 ? 1 : 0;
          const p = sigmoid(v);
          const ce = softplus(v) - v * t;
          const pt = p * t + (1 - p) * (1 - t);
          out[Math.floor(i / 15)]! += (ALPHA * t + (1 - ALPHA) * (1 - t)) * (1 - pt) ** GAMMA * ce;
        });
        return { shape: [2], data: out };
      },
    });
    const box = (r: Rng) => {
      const x1 = r.uniform(0, 10), y1 = r.uniform(0, 10);
      return [x1, y1, x1 + r.uniform(2, 8), y1 + r.uniform(2, 8)].map(Math.fround);
    };
    const gt = Float64Array.from(Array.from({ length: 6 }, () => box(rng)).flat());
    const pred = { shape: [1, 6, 4], data: Float64Array.from(Array.from({ length: 6 }, () => box(rng)).flat()) };
    cases.push({
      name: 'model giouLoss',
      inputs: [pred],
      op: (b) => giouLoss(b as tf.Tensor3D, tf.tensor3d(Float32Array.from(gt), [1, 6, 4])),
      ref: ([b]) => {
        const out = new Float64Array(6);
        for (let a = 0; a < 6; a++) {
          const [x1, y1, x2, y2] = b!.data.subarray(a * 4, a * 4 + 4);
          const [g1, h1, g2, h2] = gt.subarray(a * 4, a * 4 + 4);
          const inter = Math.max(0, Math.min(x2!, g2!) - Math.max(x1!, g1!)) * Math.max(0, Math.min(y2!, h2!) - Math.max(y1!, h1!));
          const union = (x2! - x1!) * (y2! - y1!) + (g2! - g1!) * (h2! - h1!) - inter;
          const hull = (Math.max(x2!, g2!) - Math.min(x1!, g1!)) * (Math.max(y2!, h2!) - Math.min(y1!, h1!));
          out[a] = 1 - (inter / (union + 1e-7) - (hull - union) / (hull + 1e-7));
        }
        return { shape: [1, 6], data: out };
      },
    });
  }
  return cases;
}
