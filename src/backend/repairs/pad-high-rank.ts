/**
 * PadV2 for rank > 4 on webgpu, whose shader generator emits an invalid WGSL `vec5` index for rank-5 tensors: the
 * pipeline fails validation and the output is left unwritten, with no exception. The gradient of a rank-5
 * `tf.slice` is such a pad (the model's pad + reshape max-pool meets it). Written as concatenation with constant
 * blocks, one padded axis at a time; ranks up to 4 go to the backend's own kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './tensors.js';

/** Pads `x` by `paddings` ([before, after] per axis) with `value`, through concat only. */
export function padByConcat(x: tf.Tensor, paddings: Array<[number, number]>, value: number): tf.Tensor {
  return tf.tidy(() => {
    let y = x;
    paddings.forEach(([before, after], axis) => {
      if (before === 0 && after === 0) return;
      const block = (n: number) => tf.fill(y.shape.map((d, i) => (i === axis ? n : d)), value, y.dtype);
      const parts = [...(before > 0 ? [block(before)] : []), y, ...(after > 0 ? [block(after)] : [])];
      y = tf.concat(parts, axis);
    });
    return y;
  });
}

export function padHighRankKernel(own: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x!;
    if (x.shape.length <= 4) return own(args);
    const a = args.attrs as unknown as tf.PadV2Attrs;
    return padByConcat(asTensor(x, 'x'), a.paddings, a.constantValue);
  };
}
