/**
 * MaxPoolGrad written out in JavaScript over the kernel's host-side data. wasm's own kernel returns wrong values
 * when batch > 1 or channels > 1 (no error). Semantics follow the cpu kernel: the gradient of each window goes
 * to its first maximum in row-major window order; padded positions never win.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import { asTensor } from './tensors.js';

/**
 * @param x `[N, H, W, C]` the pooled input
 * @param dy `[N, OH, OW, C]`
 * @returns dx `[N, H, W, C]`
 */
export function maxPoolGradReference(x: tf.Tensor4D, dy: tf.Tensor4D, info: backend_util.Conv2DInfo): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const xv = x.dataSync() as Float32Array;
  const dyv = dy.dataSync() as Float32Array;
  const dx = new Float32Array(xv.length);
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: fh, filterWidth: fw } = info;
  const { top, left } = info.padInfo;
  for (let b = 0; b < n; b++) {
    const xb = b * h * w * c;
    for (let i = 0; i < oh; i++) {
      const r0 = i * sh - top;
      for (let j = 0; j < ow; j++) {
        const c0 = j * sw - left;
        const dyo = ((b * oh + i) * ow + j) * c;
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          let at = -1;
          for (let u = Math.max(0, r0); u < Math.min(h, r0 + fh); u++) {
            for (let v = Math.max(0, c0); v < Math.min(w, c0 + fw); v++) {
              const k = xb + (u * w + v) * c + ch;
              const val = xv[k]!;
              if (val > best || at < 0) {
                best = val;
                at = k;
              }
            }
          }
          if (at >= 0) dx[at]! += dyv[dyo + ch]!;
        }
      }
    }
  }
  return tf.tensor4d(dx, x.shape);
}

export const maxPoolGradKernel: tf.KernelFunc = ({ inputs, attrs }) => {
  const a = attrs as unknown as tf.MaxPoolGradAttrs;
  const x = asTensor<tf.Rank.R4>(inputs.input!, 'input');
  const dy = asTensor<tf.Rank.R4>(inputs.dy!, 'dy');
  const info = backend_util.computePool2DInfo(x.shape, a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  return maxPoolGradReference(x, dy, info);
};
