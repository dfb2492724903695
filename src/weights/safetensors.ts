import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { InputError } from '../util/errors.js';

/**
 * The safetensors format, read and written by hand: an 8-byte little-endian header length n, n bytes of JSON
 * ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}), then the raw
 * little-endian tensor bytes, offsets relative to the end of the header.
 */

/** Element types read here; float ones come back as Float32Array, integer ones as Int32Array. */
export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const BYTES: Record<SafetensorsDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** One tensor of a file. `values` holds the elements row-major; `dtype` is the type stored in the file. */
export interface StoredTensor {
  dtype: SafetensorsDType;
  shape: number[];
  values: Float32Array | Int32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}

/** A tensor to write: float32 (F32) or int32 (I32) values and a shape. */
export interface TensorToWrite {
  shape: number[];
  values: Float32Array | Int32Array;
}

/** Parses safetensors bytes; errors name `file` and the tensor. */
export function parseSafetensors(bytes: Uint8Array, file = '<buffer>'): SafetensorsFile {
  const fail = (message: string, tensor?: string): never => {
    throw new InputError(`${file}: ${tensor === undefined ? '' : `tensor "${tensor}": `}${message}`);
  };
  if (bytes.length < 8) fail(`not a safetensors file (${bytes.length} bytes, the header length alone is 8)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8) fail(`header length ${headerLength} exceeds the file (${bytes.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  } catch (err) {
    return fail(`malformed header JSON (${(err as Error).message})`);
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, StoredTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = e.dtype as SafetensorsDType;
    if (typeof dtype !== 'string' || !(dtype in BYTES)) fail(`unsupported dtype ${JSON.stringify(e.dtype)}`, name);
    const shape = e.shape as number[];
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) fail(`bad shape ${JSON.stringify(e.shape)}`, name);
    const offsets = e.data_offsets as [number, number];
    if (!Array.isArray(offsets) || offsets.length !== 2) fail(`bad data_offsets ${JSON.stringify(e.data_offsets)}`, name);
    const [begin, end] = offsets;
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * BYTES[dtype]) {
      fail(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes, shape [${shape.join(', ')}] of ${dtype} needs ${count * BYTES[dtype]}`, name);
    }
    if (begin < 0 || end > dataLength) fail(`data_offsets [${begin}, ${end}] run past the data (${dataLength} bytes)`, name);
    tensors.set(name, { dtype, shape, values: decode(view, dataStart + begin, count, dtype, (m) => fail(m, name)) });
  }
  return { tensors, metadata };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * `count` elements of `dtype` from little-endian `bytes`, as Float32Array (float types) or Int32Array (integer
 * types). Aligned float32 comes back as a view of `bytes` (no copy); the rest is converted.
 */
export function decodeElements(bytes: Uint8Array, dtype: SafetensorsDType, count: number, fail: (m: string) => never): Float32Array | Int32Array {
  if (dtype === 'F32' && LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  return decode(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, count, dtype, fail);
}

function decode(view: DataView, at: number, count: number, dtype: SafetensorsDType, fail: (m: string) => never): Float32Array | Int32Array {
  switch (dtype) {
    case 'F32': {
      // Copy into an aligned buffer (JS engines here are little-endian, like the format).
      if (LITTLE_ENDIAN) return new Float32Array(view.buffer.slice(view.byteOffset + at, view.byteOffset + at + 4 * count));
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(at + 4 * i, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(at + 8 * i, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(at + 2 * i, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(count);
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        word.setUint32(0, view.getUint16(at + 2 * i, true) << 16);
        out[i] = word.getFloat32(0);
      }
      return out;
    }
    case 'I64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = view.getBigInt64(at + 8 * i, true);
        if (v > 2147483647n || v < -2147483648n) fail(`int64 value ${v} at element ${i} does not fit int32`);
        out[i] = Number(v);
      }
      return out;
    }
    case 'I32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(at + 4 * i, true);
      return out;
    }
    case 'I16': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(at + 2 * i, true);
      return out;
    }
    case 'I8': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt8(at + i);
      return out;
    }
    case 'U8':
    case 'BOOL': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getUint8(at + i);
      return out;
    }
  }
}

/** IEEE 754 half -> float (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Reads a safetensors file. */
export function readSafetensors(path: string): SafetensorsFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new InputError(`${path}: cannot read weights file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return parseSafetensors(bytes, path);
}

/**
 * Serialises tensors (Float32Array -> F32, Int32Array -> I32) in the order given, the header padded with spaces
 * to a multiple of 8 bytes as the reference writer does.
 */
export function serializeSafetensors(tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.values.length) throw new Error(`serializeSafetensors: "${name}" has ${t.values.length} values for shape [${t.shape.join(', ')}]`);
    const bytes = t.values.length * 4;
    header[name] = { dtype: t.values instanceof Float32Array ? 'F32' : 'I32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const headerBytes0 = new TextEncoder().encode(json).length;
  json += ' '.repeat((8 - (headerBytes0 % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const [, t] of entries) {
    const isFloat = t.values instanceof Float32Array;
    for (let i = 0; i < t.values.length; i++, at += 4) {
      if (isFloat) view.setFloat32(at, t.values[i]!, true);
      else view.setInt32(at, t.values[i]!, true);
    }
  }
  return out;
}

/** Writes a safetensors file atomically (temporary file, then rename). */
export function writeSafetensors(path: string, tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>, metadata: Record<string, string> = {}): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, serializeSafetensors(tensors, metadata));
  renameSync(tmp, path);
}

/** A tensor already in its file encoding: row-major little-endian bytes of `dtype`. */
export interface EncodedTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: Uint8Array;
}

/**
 * Serialises tensors in their own element types (float16 stays float16, int64 stays int64), in the order given,
 * the header padded with spaces to a multiple of 8 bytes.
 */
export function serializeEncodedSafetensors(tensors: Map<string, EncodedTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count * BYTES[t.dtype] !== t.data.length) throw new Error(`serializeEncodedSafetensors: "${name}" has ${t.data.length} bytes for [${t.shape.join(', ')}] ${t.dtype}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (new TextEncoder().encode(json).length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    out.set(t.data, at);
    at += t.data.length;
  }
  return out;
}
