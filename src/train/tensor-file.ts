import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type * as tf from '@tensorflow/tfjs-core';
import { serializeSafetensors, type TensorToWrite } from '../weights/safetensors.js';

/**
 * Reads every tensor's values (asynchronously, so GPU backends work) and encodes them as a safetensors file
 * (src/weights/safetensors.ts), names sorted. Only float32 and int32 tensors are written.
 */
export async function encodeTensors(tensors: Record<string, tf.Tensor>, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const names = Object.keys(tensors).sort();
  const out = new Map<string, TensorToWrite>();
  for (const name of names) {
    const t = tensors[name]!;
    if (t.dtype !== 'float32' && t.dtype !== 'int32') throw new Error(`tensor "${name}": dtype ${t.dtype} cannot be checkpointed`);
    out.set(name, { shape: t.shape, values: (await t.data()) as Float32Array | Int32Array });
  }
  return serializeSafetensors(out, metadata);
}

/** Writes `data` to `path` and flushes it to the disk before returning. */
export function writeFileDurable(path: string, data: Uint8Array | string): void {
  const fd = openSync(path, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let written = 0;
    while (written < bytes.byteLength) written += writeSync(fd, bytes, written, bytes.byteLength - written);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Flushes a directory entry (after a rename inside it). */
export function fsyncDir(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
