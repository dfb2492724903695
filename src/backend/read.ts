import * as tf from '@tensorflow/tfjs-core';

/**
 * Reads a tensor's values to the host as float32. Asynchronous because the webgpu backend cannot read GPU
 * memory synchronously in Node (`dataSync` throws there); on cpu and wasm it resolves at once.
 */
export async function readFloat32(t: tf.Tensor): Promise<Float32Array> {
  const values = await t.data();
  return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
}

/** Reads a scalar (or the first element) as a JS number, asynchronously for the same reason. */
export async function readScalar(t: tf.Tensor): Promise<number> {
  const values = await t.data();
  if (values.length === 0) throw new Error('readScalar: empty tensor');
  return Number(values[0]);
}

/** Whether synchronous reads (`dataSync`, `arraySync`) work on the active backend. */
export function canReadSync(): boolean {
  return tf.getBackend() !== 'webgpu' && tf.getBackend() !== 'webgl';
}
