import { InputError } from '../util/errors.js';
import { describe, unpickle, type PickleDict, type PickleValue, type StorageType, type TensorRef, type TorchDType } from './pickle.js';
import { looksLikeZip, readZip } from './zip.js';

/**
 * PyTorch checkpoints (`torch.save`) read without Python:
 * - the zip format (PyTorch >= 1.6): `<name>/data.pkl` pickles the object, each storage is the entry
 *   `<name>/data/<key>` (raw little-endian elements), named by the pickle's persistent ids;
 * - the legacy format (`_use_new_zipfile_serialization=False`): five things end to end: pickles of a magic number,
 *   the protocol version, system info, the object, the list of storage keys, then each storage as an int64 element
 *   count followed by its elements.
 * Tensors are views (offset, sizes, strides) of storages; a contiguous one comes back as a view of the file's
 * bytes, a strided one (a transposed tensor) is gathered into row-major order.
 */

/** One tensor, row-major, little-endian, in the element type it was saved with. */
export interface RawTensor {
  dtype: TorchDType;
  shape: number[];
  data: Uint8Array;
}

/** The tensors of a checkpoint by name, in the order they were saved. */
export interface RawStateDict {
  file: string;
  tensors: Map<string, RawTensor>;
  /** Which key the state dict was found under (`model`, `state_dict`), null for a bare state dict. */
  nestedUnder: string | null;
}

export const ELEMENT_BYTES: Record<TorchDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** A storage as the pickle's persistent id names it, bytes attached once known. */
interface StorageRecord {
  key: string;
  dtype: TorchDType;
  numel: number;
  bytes: Uint8Array | null;
  /** Legacy format: a view (offset and length in elements) of another storage. */
  view: { key: string; offset: number; numel: number } | null;
}

/** Keys under which training scripts nest a state dict, searched in this order. */
const NESTING_KEYS = ['state_dict', 'model', 'model_state', 'model_state_dict'];

/** Whether `bytes` begin like a legacy torch.save file: PROTO n, then LONG1 of the 10-byte magic number. */
function looksLikeLegacy(bytes: Uint8Array): boolean {
  return bytes.length > 4 && bytes[0] === 0x80 && bytes[2] === 0x8a && bytes[3] === 0x0a;
}

/** Whether `bytes` look like a PyTorch checkpoint of either format. */
export function looksLikeTorchCheckpoint(bytes: Uint8Array): boolean {
  return looksLikeZip(bytes) || looksLikeLegacy(bytes);
}

/** Parses a checkpoint's bytes into its state dict; errors name `file` and, where there is one, the tensor. */
export function parseTorchCheckpoint(bytes: Uint8Array, file: string): RawStateDict {
  const storages: StorageRecord[] = [];
  const persistentLoad = (pid: PickleValue[]): StorageRecord => {
    const [tag, type, key, , numel, view] = pid;
    if (tag !== 'storage' || typeof key !== 'string' || (type as StorageType | null)?.kind !== 'storage-type' || typeof numel !== 'number') {
      throw new InputError(`${file}: unexpected persistent id (${describe(pid)} starting ${describe(tag ?? null)}); not a torch storage`);
    }
    let viewOf: StorageRecord['view'] = null;
    if (Array.isArray(view) && view.length === 3) {
      viewOf = { key: String(view[0]), offset: Number(view[1]), numel: Number(view[2]) };
    }
    const record: StorageRecord = { key, dtype: (type as StorageType).dtype, numel, bytes: null, view: viewOf };
    storages.push(record);
    return record;
  };

  let root: PickleValue;
  if (looksLikeZip(bytes)) {
    const entries = readZip(bytes, file);
    const pkl = [...entries.keys()].find((n) => n.endsWith('/data.pkl') || n === 'data.pkl');
    if (pkl === undefined) throw new InputError(`${file}: a zip archive but not a torch.save checkpoint (no data.pkl entry)`);
    const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
    root = unpickle(entries.get(pkl)!.data, { file: `${file} (${pkl})`, persistentLoad }).value;
    for (const s of storages) {
      const entry = entries.get(`${prefix}data/${s.key}`);
      if (entry === undefined) throw new InputError(`${file}: storage ${s.key} (entry ${prefix}data/${s.key}) is missing from the archive`);
      s.bytes = entry.data;
    }
  } else if (looksLikeLegacy(bytes)) {
    root = readLegacy(bytes, file, persistentLoad, storages);
  } else if (bytes.length >= 262 && new TextDecoder().decode(bytes.subarray(257, 262)) === 'ustar') {
    throw new InputError(`${file}: the tar checkpoint format of PyTorch < 0.4 is not read; re-save it with a current torch.save`);
  } else {
    throw new InputError(`${file}: not a PyTorch checkpoint (neither a torch.save zip archive nor a legacy pickle)`);
  }

  const { dict, nestedUnder } = stateDictOf(root, file);
  const tensors = new Map<string, RawTensor>();
  for (const [name, value] of dict) {
    if (typeof name !== 'string' || value === null || typeof value !== 'object' || (value as TensorRef).kind !== 'tensor') continue;
    tensors.set(name, materialise(value as TensorRef, name, file));
  }
  if (tensors.size === 0) throw new InputError(`${file}: holds no tensors${nestedUnder === null ? '' : ` under "${nestedUnder}"`}`);
  return { file, tensors: stripModulePrefix(tensors), nestedUnder };
}

function readLegacy(bytes: Uint8Array, file: string, persistentLoad: (pid: PickleValue[]) => StorageRecord, storages: StorageRecord[]): PickleValue {
  const magic = unpickle(bytes, { file });
  if (magic.value !== LEGACY_MAGIC) {
    throw new InputError(`${file}: a pickle, but not a torch.save checkpoint (no torch magic number); plain pickles are not read`);
  }
  const protocol = unpickle(bytes, { file }, magic.end);
  const sysInfo = unpickle(bytes, { file }, protocol.end);
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) {
    throw new InputError(`${file}: saved on a big-endian machine; not read`);
  }
  const main = unpickle(bytes, { file, persistentLoad }, sysInfo.end);
  const keys = unpickle(bytes, { file }, main.end);
  if (!Array.isArray(keys.value)) throw new InputError(`${file}: damaged legacy checkpoint (storage key list missing)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dtypeOf = new Map(storages.map((s) => [s.view?.key ?? s.key, s.dtype]));
  const data = new Map<string, Uint8Array>();
  let at = keys.end;
  for (const key of keys.value) {
    const k = String(key);
    if (at + 8 > bytes.length) throw new InputError(`${file}: truncated legacy checkpoint (storage ${k} missing)`);
    const count = Number(view.getBigInt64(at, true));
    const length = count * ELEMENT_BYTES[dtypeOf.get(k) ?? 'U8'];
    if (at + 8 + length > bytes.length) throw new InputError(`${file}: truncated legacy checkpoint (storage ${k} needs ${length} bytes at ${at + 8})`);
    data.set(k, bytes.subarray(at + 8, at + 8 + length));
    at += 8 + length;
  }
  for (const s of storages) {
    const base = data.get(s.view?.key ?? s.key);
    if (base === undefined) throw new InputError(`${file}: storage ${s.key} is missing from the legacy checkpoint`);
    const es = ELEMENT_BYTES[s.dtype];
    s.bytes = s.view === null ? base : base.subarray(s.view.offset * es, (s.view.offset + s.view.numel) * es);
  }
  return main.value;
}

/** The dict of tensors inside a checkpoint: the top-level dict, or one nested under a NESTING_KEYS key. */
function stateDictOf(root: PickleValue, file: string): { dict: PickleDict; nestedUnder: string | null } {
  if (!(root instanceof Map)) throw new InputError(`${file}: holds ${describe(root)}, not a state dict (a dict of tensors)`);
  for (const key of NESTING_KEYS) {
    const inner = root.get(key);
    if (inner instanceof Map) return { dict: inner, nestedUnder: key };
  }
  return { dict: root, nestedUnder: null };
}

/** `module.` on every name (a model saved from DataParallel) is dropped. */
function stripModulePrefix(tensors: Map<string, RawTensor>): Map<string, RawTensor> {
  if (![...tensors.keys()].every((k) => k.startsWith('module.'))) return tensors;
  return new Map([...tensors].map(([k, v]) => [k.slice('module.'.length), v]));
}

/** A tensor's elements, row-major: a view when the tensor is contiguous, else gathered through its strides. */
function materialise(t: TensorRef, name: string, file: string): RawTensor {
  const s = t.storage as StorageRecord;
  const es = ELEMENT_BYTES[s.dtype];
  const bytes = s.bytes!;
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (t.shape.length !== t.stride.length) throw new InputError(`${file}: tensor "${name}": ${t.shape.length} sizes but ${t.stride.length} strides`);
  let last = t.offset;
  for (let d = 0; d < t.shape.length; d++) if (t.shape[d]! > 0) last += (t.shape[d]! - 1) * t.stride[d]!;
  if (numel > 0 && (t.offset < 0 || (last + 1) * es > bytes.length)) {
    throw new InputError(
      `${file}: tensor "${name}" [${t.shape.join(', ')}] reaches element ${last} of storage ${s.key}, which holds ${bytes.length / es} (truncated file?)`,
    );
  }
  const shape = [...t.shape];
  if (numel === 0) return { dtype: s.dtype, shape, data: new Uint8Array(0) };
  let contiguous = true;
  for (let d = t.shape.length - 1, expect = 1; d >= 0; d--) {
    if (t.shape[d]! !== 1 && t.stride[d]! !== expect) contiguous = false;
    expect *= t.shape[d]!;
  }
  if (contiguous) return { dtype: s.dtype, shape, data: bytes.subarray(t.offset * es, (t.offset + numel) * es) };
  return { dtype: s.dtype, shape, data: gather(bytes, es, t.offset, shape, t.stride, numel) };
}

/**
 * The elements of a strided view in row-major order: an odometer over the sizes moves the source index by the
 * strides. Whole elements are copied as 16- / 32-bit words when the storage is aligned for it (torch.save's zip
 * entries are), byte by byte otherwise.
 */
function gather(bytes: Uint8Array, es: number, offset: number, shape: number[], stride: number[], numel: number): Uint8Array {
  const out = new Uint8Array(numel * es);
  const word = es === 4 || es === 2 ? es : 1;
  const aligned = bytes.byteOffset % word === 0;
  const unit = aligned ? word : 1;
  const per = es / unit;
  const view = (b: Uint8Array): Uint8Array | Uint16Array | Uint32Array =>
    unit === 4 ? new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4) : unit === 2 ? new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2) : b;
  const from = view(bytes.subarray(0, bytes.length - (bytes.length % unit)));
  const to = view(out);
  const index = new Array<number>(shape.length).fill(0);
  let src = offset;
  for (let i = 0; i < numel; i++) {
    for (let k = 0; k < per; k++) to[i * per + k] = from[src * per + k]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d]!++;
      src += stride[d]!;
      if (index[d]! < shape[d]!) break;
      src -= index[d]! * stride[d]!;
      index[d] = 0;
    }
  }
  return out;
}
