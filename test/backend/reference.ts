/**
 * Float64 reference implementations of the detector's ops, in plain loops, and a central-difference gradient.
 * The gradient-check suite compares every backend's float32 forward values and analytic gradients with these.
 * Layouts as in the project: NHWC activations, HWIO filters.
 */
import { Rng } from '../../src/util/rng.js';

/** A float64 array with a shape (row-major). */
export interface Arr {
  shape: number[];
  data: Float64Array;
}

export const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Standard normal values rounded to float32, so the float32 backends and the reference see the same inputs. */
export function randn(rng: Rng, shape: number[], scale = 1, offset = 0): Arr {
  const data = new Float64Array(size(shape));
  for (let i = 0; i < data.length; i++) data[i] = Math.fround(offset + scale * rng.normal());
  return { shape, data };
}

export function uniform(rng: Rng, shape: number[], lo: number, hi: number): Arr {
  const data = new Float64Array(size(shape));
  for (let i = 0; i < data.length; i++) data[i] = Math.fround(rng.uniform(lo, hi));
  return { shape, data };
}

/** Pads as [top, bottom, left, right]. */
export type Pads = [number, number, number, number];

/** y[n, oh, ow, co] = sum_{kh, kw, ci} x[n, oh*s + kh - top, ow*s + kw - left, ci] * w[kh, kw, ci, co] */
export function conv2dRef(x: Arr, w: Arr, stride: number, pads: Pads): Arr {
  const [n, h, wd, ci] = x.shape as [number, number, number, number];
  const [kh, kw, , co] = w.shape as [number, number, number, number];
  const [pt, pb, pl, pr] = pads;
  const oh = Math.floor((h + pt + pb - kh) / stride) + 1;
  const ow = Math.floor((wd + pl + pr - kw) / stride) + 1;
  const y = new Float64Array(n * oh * ow * co);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let u = 0; u < kh; u++) {
          const r = i * stride + u - pt;
          if (r < 0 || r >= h) continue;
          for (let v = 0; v < kw; v++) {
            const c = j * stride + v - pl;
            if (c < 0 || c >= wd) continue;
            for (let a = 0; a < ci; a++) {
              const xv = x.data[((b * h + r) * wd + c) * ci + a]!;
              const wo = ((u * kw + v) * ci + a) * co;
              const yo = ((b * oh + i) * ow + j) * co;
              for (let o = 0; o < co; o++) y[yo + o]! += xv * w.data[wo + o]!;
            }
          }
        }
  return { shape: [n, oh, ow, co], data: y };
}

/** Max over k x k windows; padded positions never win (as torchvision's max_pool2d with padding). */
export function maxPoolRef(x: Arr, k: number, stride: number, pads: Pads): Arr {
  const [n, h, wd, c] = x.shape as [number, number, number, number];
  const [pt, pb, pl, pr] = pads;
  const oh = Math.floor((h + pt + pb - k) / stride) + 1;
  const ow = Math.floor((wd + pl + pr - k) / stride) + 1;
  const y = new Float64Array(n * oh * ow * c).fill(-Infinity);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let u = 0; u < k; u++) {
          const r = i * stride + u - pt;
          if (r < 0 || r >= h) continue;
          for (let v = 0; v < k; v++) {
            const cc = j * stride + v - pl;
            if (cc < 0 || cc >= wd) continue;
            for (let a = 0; a < c; a++) {
              const yo = ((b * oh + i) * ow + j) * c + a;
              y[yo] = Math.max(y[yo]!, x.data[((b * h + r) * wd + cc) * c + a]!);
            }
          }
        }
  return { shape: [n, oh, ow, c], data: y };
}

/** out[n, 2i + a, 2j + b, c] = x[n, i, j, c] */
export function upsample2xRef(x: Arr): Arr {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const y = new Float64Array(n * 4 * h * w * c);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < 2 * h; i++)
      for (let j = 0; j < 2 * w; j++)
        for (let a = 0; a < c; a++)
          y[((b * 2 * h + i) * 2 * w + j) * c + a] = x.data[((b * h + (i >> 1)) * w + (j >> 1)) * c + a]!;
  return { shape: [n, 2 * h, 2 * w, c], data: y };
}

/** Elementwise map of one array. */
export function map(x: Arr, f: (v: number, i: number) => number): Arr {
  const y = new Float64Array(x.data.length);
  for (let i = 0; i < y.length; i++) y[i] = f(x.data[i]!, i);
  return { shape: x.shape, data: y };
}

/** Per-channel (last axis) statistics over all other axes: mean and biased variance, as batch norm uses. */
export function channelMoments(x: Arr): { mean: Float64Array; variance: Float64Array } {
  const c = x.shape[x.shape.length - 1]!;
  const m = x.data.length / c;
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  for (let i = 0; i < x.data.length; i++) mean[i % c]! += x.data[i]! / m;
  for (let i = 0; i < x.data.length; i++) variance[i % c]! += (x.data[i]! - mean[i % c]!) ** 2 / m;
  return { mean, variance };
}

export const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
/** log(1 + e^v) without overflow. */
export const softplus = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));

/**
 * Central differences of L(inputs) = sum(f(inputs) * weights) with respect to one input, in float64.
 * @returns dL/d inputs[which], same length as that input
 */
export function numericGrad(f: (inputs: Arr[]) => Arr, inputs: Arr[], which: number, weights: Float64Array, h = 1e-6): Float64Array {
  const target = inputs[which]!;
  const g = new Float64Array(target.data.length);
  const loss = () => {
    const y = f(inputs).data;
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * weights[i]!;
    return s;
  };
  for (let i = 0; i < g.length; i++) {
    const keep = target.data[i]!;
    target.data[i] = keep + h;
    const up = loss();
    target.data[i] = keep - h;
    const down = loss();
    target.data[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}
