/**
 * AddN with many inputs on webgpu. Its shader binds one storage buffer per input; past the device's
 * maxStorageBuffersPerShaderStage (8 on many adapters, the WebGPU default) the pipeline fails validation and the
 * output is left unwritten: zeros, no exception (a global gradient norm over a model's parameters meets it).
 * Summed here as a tree of the backend's own AddN over groups small enough to bind.
 */
import * as tf from '@tensorflow/tfjs-core';
import { asTensor } from './tensors.js';

/** Inputs per AddN call: 4 storage buffers in, 1 out, well under every adapter's limit. */
export const ADD_N_GROUP = 4;

/** Sums tensors of one shape as a tree of `addN` calls of at most `group` inputs each. */
export function addNGrouped(tensors: tf.Tensor[], group = ADD_N_GROUP): tf.Tensor {
  return tf.tidy(() => {
    let level = tensors;
    while (level.length > 1) {
      const next: tf.Tensor[] = [];
      for (let i = 0; i < level.length; i += group) {
        const chunk = level.slice(i, i + group);
        next.push(chunk.length === 1 ? chunk[0]! : tf.addN(chunk));
      }
      level = next;
    }
    const sum = level[0]!;
    return tensors.includes(sum) ? tf.clone(sum) : sum; // a single input: a new tensor all the same
  });
}

export function addNKernel(own: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const inputs = Object.keys(args.inputs)
      .sort((a, b) => Number(a) - Number(b))
      .map((k) => args.inputs[k]!);
    if (inputs.length <= ADD_N_GROUP) return own(args);
    return addNGrouped(inputs.map((t, i) => asTensor(t, String(i))));
  };
}
