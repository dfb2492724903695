/**
 * ResizeNearestNeighborGrad as the exact adjoint of the forward kernel's index mapping (the cpu kernel's
 * `ResizeNearestNeighbor`): every dy element is added to the input pixel the forward pass copied it from.
 * The cpu backend's own gradient kernel misplaces the batch offset of dy, so it is wrong for batch > 1.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './tensors.js';

/** The source index the forward resize reads for output index `o` along one axis. */
function sourceIndex(o: number, inSize: number, outSize: number, alignCorners: boolean, halfPixel: boolean): number {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const frac = halfPixel ? ratio * (o + 0.5) : ratio * o;
  let s = Math.min(inSize - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
  if (halfPixel) s = Math.max(0, s);
  return s;
}

/**
 * @param imagesShape `[N, H, W, C]` of the resized input
 * @param dy `[N, OH, OW, C]`
 * @returns dx `[N, H, W, C]`
 */
export function resizeNearestGrad(
  imagesShape: [number, number, number, number],
  dy: tf.Tensor4D,
  alignCorners: boolean,
  halfPixelCenters: boolean,
): tf.Tensor4D {
  const [n, h, w, c] = imagesShape;
  const [, oh, ow] = dy.shape;
  const dyv = dy.dataSync() as Float32Array;
  const dx = new Float32Array(n * h * w * c);
  const rows = Array.from({ length: oh }, (_, o) => sourceIndex(o, h, oh, alignCorners, halfPixelCenters));
  const cols = Array.from({ length: ow }, (_, o) => sourceIndex(o, w, ow, alignCorners, halfPixelCenters));
  let k = 0;
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      const rowBase = (b * h + rows[i]!) * w;
      for (let j = 0; j < ow; j++) {
        const base = (rowBase + cols[j]!) * c;
        for (let ch = 0; ch < c; ch++) dx[base + ch]! += dyv[k++]!;
      }
    }
  }
  return tf.tensor4d(dx, imagesShape);
}

export const resizeNearestGradKernel: tf.KernelFunc = ({ inputs, attrs }) => {
  const a = attrs as unknown as tf.ResizeNearestNeighborGradAttrs;
  const images = inputs.images!;
  const dy = asTensor<tf.Rank.R4>(inputs.dy!, 'dy');
  return resizeNearestGrad(images.shape as [number, number, number, number], dy, a.alignCorners, a.halfPixelCenters);
};
