import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../util/errors.js';

/**
 * A minimal safetensors reader / writer for checkpoints: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__: {...}}` padded with spaces to a multiple of 8,
 * then the raw little-endian data. Only F32 and I32 are needed for training state.
 */

type SafeDtype = 'F32' | 'I32';

interface HeaderEntry {
  dtype: SafeDtype;
  shape: number[];
  data_offsets: [number, number];
}

/** Host-side tensor data as read back from a file: enough to rebuild a tf.Tensor or compare bits. */
export interface HostTensor {
  dtype: 'float32' | 'int32';
  shape: number[];
  values: Float32Array | Int32Array;
}

/** Reads every tensor's data (asynchronously, so GPU backends work) and encodes the file's bytes. */
export async function encodeSafetensors(
  tensors: Record<string, tf.Tensor>,
  metadata: Record<string, string> = {},
): Promise<Buffer> {
  const names = Object.keys(tensors).sort();
  const header: Record<string, HeaderEntry | Record<string, string>> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    if (t.dtype !== 'float32' && t.dtype !== 'int32') throw new Error(`tensor "${name}": dtype ${t.dtype} not supported`);
    const data = (await t.data()) as Float32Array | Int32Array;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype: t.dtype === 'float32' ? 'F32' : 'I32', shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.byteLength));
  return Buffer.concat([prefix, headerBytes, ...chunks]);
}

/** Parses a safetensors file's bytes; `source` names the file in errors. */
export function decodeSafetensors(bytes: Buffer, source: string): { tensors: Record<string, HostTensor>; metadata: Record<string, string> } {
  if (bytes.byteLength < 8) throw new InputError(`${source}: not a safetensors file (too short)`);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  if (8 + headerLength > bytes.byteLength) throw new InputError(`${source}: truncated safetensors header`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new InputError(`${source}: malformed safetensors header (${(err as Error).message})`);
  }
  const base = 8 + headerLength;
  const tensors: Record<string, HostTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = raw as Record<string, string>;
      continue;
    }
    const entry = raw as HeaderEntry;
    const [begin, end] = entry.data_offsets;
    if (base + end > bytes.byteLength) throw new InputError(`${source}: tensor "${name}" runs past the end of the file`);
    if (entry.dtype !== 'F32' && entry.dtype !== 'I32') {
      throw new InputError(`${source}: tensor "${name}" has dtype ${entry.dtype}; only F32 and I32 are read`);
    }
    // Copy into an aligned buffer: the data offset in the file need not be a multiple of 4.
    const copy = new Uint8Array(end - begin);
    copy.set(bytes.subarray(base + begin, base + end));
    const values = entry.dtype === 'F32' ? new Float32Array(copy.buffer) : new Int32Array(copy.buffer);
    const size = entry.shape.reduce((a, b) => a * b, 1);
    if (values.length !== size) throw new InputError(`${source}: tensor "${name}" has ${values.length} values for shape [${entry.shape}]`);
    tensors[name] = { dtype: entry.dtype === 'F32' ? 'float32' : 'int32', shape: entry.shape, values };
  }
  return { tensors, metadata };
}

/** Reads a safetensors file from disk. */
export function readSafetensors(path: string): { tensors: Record<string, HostTensor>; metadata: Record<string, string> } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new InputError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return decodeSafetensors(bytes, path);
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
