/**
 * UnsortedSegmentSum (the gradient of `tf.gather`), missing on wasm: out[s, ...] = sum of x[i, ...] over the
 * positions i whose segment id is s; ids outside [0, numSegments) are dropped, as TensorFlow does.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './tensors.js';

/**
 * @param x `[...idsShape, ...inner]`
 * @param segmentIds `idsShape`, int32
 * @returns `[numSegments, ...inner]`
 */
export function unsortedSegmentSumReference(x: tf.Tensor, segmentIds: tf.Tensor, numSegments: number): tf.Tensor {
  const inner = x.shape.slice(segmentIds.rank);
  const innerSize = inner.reduce((a, b) => a * b, 1);
  const ids = segmentIds.dataSync();
  const xv = x.dataSync();
  const out = x.dtype === 'int32' ? new Int32Array(numSegments * innerSize) : new Float32Array(numSegments * innerSize);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i]!;
    if (s < 0 || s >= numSegments) continue;
    const src = i * innerSize;
    const dst = s * innerSize;
    for (let k = 0; k < innerSize; k++) out[dst + k]! += xv[src + k]!;
  }
  return tf.tensor(out, [numSegments, ...inner], x.dtype === 'int32' ? 'int32' : 'float32');
}

export const unsortedSegmentSumKernel: tf.KernelFunc = ({ inputs, attrs }) => {
  const a = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  return unsortedSegmentSumReference(asTensor(inputs.x!, 'x'), asTensor(inputs.segmentIds!, 'segmentIds'), a.numSegments);
};
