import { InputError } from '../util/errors.js';

/**
 * A small unpickler for exactly what PyTorch state dicts are made of. It interprets the pickle opcodes (protocols
 * 2 to 5) but calls nothing: a GLOBAL outside the allow-list below is refused with an InputError naming the file
 * and the global, before anything is built from it. Python values come back as:
 *   dict / OrderedDict -> PickleDict (a Map, insertion order kept)   list / tuple -> array
 *   int -> number (bigint beyond 2^53)   float -> number   str -> string   bytes -> Uint8Array   None -> null
 * and the two torch objects as TensorRef / the persistent id tuple handed to `persistentLoad`.
 */

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | PickleDict
  | TensorRef
  | StorageType
  | PersistentObject
  | GlobalRef;

export type PickleDict = Map<PickleValue, PickleValue>;

/** A storage class such as torch.FloatStorage, named by a GLOBAL: its element type. */
export interface StorageType {
  kind: 'storage-type';
  dtype: TorchDType;
}

/** Whatever `persistentLoad` returned for a persistent id (a storage, for torch). */
export interface PersistentObject {
  kind: 'persistent';
  value: unknown;
}

/** torch._utils._rebuild_tensor_v2's arguments: a view of a storage. Sizes and strides in elements. */
export interface TensorRef {
  kind: 'tensor';
  storage: unknown;
  offset: number;
  shape: number[];
  stride: number[];
}

/** Element types of torch storages, named as safetensors names them. */
export type TorchDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** torch storage classes and their element types. */
export const STORAGE_DTYPES: Record<string, TorchDType> = {
  DoubleStorage: 'F64',
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

/** What a call to an allow-listed global builds. */
type Callable = (args: PickleValue[], fail: (m: string) => never) => PickleValue;

function int(value: PickleValue, what: string, fail: (m: string) => never): number {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  return fail(`${what}: expected an integer, got ${describe(value)}`);
}

function ints(value: PickleValue, what: string, fail: (m: string) => never): number[] {
  if (!Array.isArray(value)) return fail(`${what}: expected a tuple of integers, got ${describe(value)}`);
  return value.map((v) => int(v, what, fail));
}

const rebuildTensor: Callable = (args, fail) => {
  const [storage, offset, shape, stride] = args;
  if (storage === undefined || (storage as PersistentObject).kind !== 'persistent') {
    return fail(`_rebuild_tensor_v2: expected a storage, got ${describe(storage ?? null)}`);
  }
  return {
    kind: 'tensor',
    storage: (storage as PersistentObject).value,
    offset: int(offset ?? null, '_rebuild_tensor_v2 offset', fail),
    shape: ints(shape ?? null, '_rebuild_tensor_v2 size', fail),
    stride: ints(stride ?? null, '_rebuild_tensor_v2 stride', fail),
  };
};

/** The only globals a pickle may name, and what calling each builds. */
const ALLOWED: Record<string, Callable> = {
  'collections.OrderedDict': () => new Map(),
  'builtins.dict': () => new Map(),
  // The `args` of torchvision's reference training scripts: a plain attribute holder, read as an (empty) dict.
  'argparse.Namespace': () => new Map(),
  'torch._utils._rebuild_tensor_v2': rebuildTensor,
  // nn.Parameter pickles as (data, requires_grad, hooks): the data is the tensor.
  'torch._utils._rebuild_parameter': (args) => args[0] ?? null,
  'torch._utils._rebuild_parameter_with_state': (args) => args[0] ?? null,
};

/** A reference to an allow-listed global (a value only as a REDUCE target or a type argument). */
export interface GlobalRef {
  kind: 'global';
  name: string;
}

/** torch._tensor._rebuild_from_type_v2(func, type, args, state): func(*args) for an allow-listed func. */
const REBUILD_FROM_TYPE = 'torch._tensor._rebuild_from_type_v2';
const TENSOR_TYPES = new Set(['torch.Tensor', 'torch.nn.parameter.Parameter']);

export function describe(value: PickleValue | undefined): string {
  if (value === null || value === undefined) return 'None';
  if (Array.isArray(value)) return `a tuple of ${value.length}`;
  if (value instanceof Map) return 'a dict';
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (typeof value === 'object') return (value as { kind: string }).kind === 'global' ? `global ${(value as GlobalRef).name}` : `a ${(value as { kind: string }).kind}`;
  return `${typeof value} ${String(value).slice(0, 40)}`;
}

export interface UnpickleOptions {
  /** For messages: the file (and entry) the pickle came from. */
  file: string;
  /** Resolves a persistent id (torch: ('storage', type, key, location, numel[, view])). */
  persistentLoad?: (pid: PickleValue[]) => unknown;
}

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

/**
 * Unpickles one pickle starting at `start` of `bytes`; returns the value and where the pickle ended (the byte after
 * STOP), so several pickles laid end to end (the legacy torch.save format) can be read in turn.
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions, start = 0): { value: PickleValue; end: number } {
  const fail = (message: string): never => {
    throw new InputError(`${opts.file}: ${message}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8');
  const stack: StackItem[] = [];
  const memo = new Map<number, StackItem>();
  let at = start;

  const need = (n: number): number => {
    if (at + n > bytes.length) fail(`truncated pickle (needs ${n} more bytes at ${at}, has ${bytes.length - at})`);
    const here = at;
    at += n;
    return here;
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) fail('truncated pickle (unterminated line)');
    const s = utf8.decode(bytes.subarray(at, end));
    at = end + 1;
    return s;
  };
  const pop = (): StackItem => {
    if (stack.length === 0) fail('malformed pickle (stack underflow)');
    return stack.pop()!;
  };
  const value = (item: StackItem): PickleValue => {
    if (item === MARK) return fail('malformed pickle (mark used as a value)');
    return item;
  };
  const popMark = (): PickleValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail('malformed pickle (no mark)');
    const items = stack.splice(i).slice(1);
    return items.map(value);
  };
  const top = (): StackItem => {
    if (stack.length === 0) fail('malformed pickle (empty stack)');
    return stack[stack.length - 1]!;
  };
  const global = (module: string, name: string): StackItem => {
    const full = `${module}.${name}`;
    if (module === 'torch' && name in STORAGE_DTYPES) return { kind: 'storage-type', dtype: STORAGE_DTYPES[name]! };
    if (full in ALLOWED || full === REBUILD_FROM_TYPE || TENSOR_TYPES.has(full)) return { kind: 'global', name: full };
    return fail(
      `pickle references global ${full}, which is not on the allow-list of what a state dict holds (tensors, storages, dicts); ` +
        'refusing to load it (save the state_dict alone: torch.save(model.state_dict(), path))',
    );
  };
  const call = (fn: StackItem, args: PickleValue[]): PickleValue => {
    if (fn === MARK || fn === null || typeof fn !== 'object' || (fn as GlobalRef).kind !== 'global') {
      return fail(`malformed pickle (REDUCE on ${describe(fn === MARK ? null : (fn as PickleValue))})`);
    }
    const name = (fn as GlobalRef).name;
    if (name === REBUILD_FROM_TYPE) {
      const [inner, , innerArgs] = args;
      if (!Array.isArray(innerArgs)) return fail(`${REBUILD_FROM_TYPE}: expected an argument tuple`);
      return call(inner as StackItem, innerArgs);
    }
    const callable = ALLOWED[name];
    if (callable === undefined) return fail(`pickle calls ${name}, which is not on the allow-list`);
    return callable(args, fail);
  };
  const setItems = (target: StackItem, items: PickleValue[]): void => {
    if (!(target instanceof Map)) fail(`malformed pickle (SETITEMS on ${describe(target as PickleValue)})`);
    for (let i = 0; i + 1 < items.length; i += 2) (target as PickleDict).set(items[i]!, items[i + 1]!);
  };
  const pushString = (n: number): void => {
    const here = need(n);
    stack.push(utf8.decode(bytes.subarray(here, here + n)));
  };
  const pushBytes = (n: number): void => {
    const here = need(n);
    stack.push(bytes.subarray(here, here + n));
  };
  const long = (n: number): number | bigint => {
    const here = need(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[here + i]!);
    if (bytes[here + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const op = bytes[need(1)]!;
    switch (op) {
      case 0x80: // PROTO
        need(1);
        break;
      case 0x95: // FRAME
        need(8);
        break;
      case 0x2e: // STOP
        return { value: value(pop()), end: at };
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x8f: // EMPTY_SET
        stack.push([]);
        break;
      case 0x74: // TUPLE
      case 0x6c: // LIST
      case 0x91: // FROZENSET
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([value(pop())]);
        break;
      case 0x86: { // TUPLE2
        const b = value(pop());
        stack.push([value(pop()), b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = value(pop());
        const b = value(pop());
        stack.push([value(pop()), b, c]);
        break;
      }
      case 0x64: { // DICT
        const d: PickleDict = new Map();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x71: // BINPUT
        memo.set(bytes[need(1)]!, top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(view.getUint32(need(4), true), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const key = op === 0x68 ? bytes[need(1)]! : view.getUint32(need(4), true);
        if (!memo.has(key)) fail(`malformed pickle (memo ${key} unset)`);
        stack.push(memo.get(key)!);
        break;
      }
      case 0x4b: // BININT1
        stack.push(bytes[need(1)]!);
        break;
      case 0x4d: // BININT2
        stack.push(view.getUint16(need(2), true));
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(need(4), true));
        break;
      case 0x8a: // LONG1
        stack.push(long(bytes[need(1)]!));
        break;
      case 0x8b: // LONG4
        stack.push(long(view.getInt32(need(4), true)));
        break;
      case 0x47: // BINFLOAT (big-endian)
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x58: // BINUNICODE
        pushString(view.getUint32(need(4), true));
        break;
      case 0x8c: // SHORT_BINUNICODE
        pushString(bytes[need(1)]!);
        break;
      case 0x8d: // BINUNICODE8
        pushString(Number(view.getBigUint64(need(8), true)));
        break;
      case 0x54: // BINSTRING
        pushString(view.getInt32(need(4), true));
        break;
      case 0x55: // SHORT_BINSTRING
        pushString(bytes[need(1)]!);
        break;
      case 0x42: // BINBYTES
        pushBytes(view.getUint32(need(4), true));
        break;
      case 0x43: // SHORT_BINBYTES
        pushBytes(bytes[need(1)]!);
        break;
      case 0x8e: // BINBYTES8
        pushBytes(Number(view.getBigUint64(need(8), true)));
        break;
      case 0x63: { // GLOBAL
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = value(pop());
        const module = value(pop());
        if (typeof module !== 'string' || typeof name !== 'string') fail('malformed pickle (STACK_GLOBAL needs two strings)');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x51: { // BINPERSID
        const pid = value(pop());
        if (opts.persistentLoad === undefined || !Array.isArray(pid)) fail('pickle holds a persistent id outside a torch checkpoint');
        stack.push({ kind: 'persistent', value: opts.persistentLoad!(pid as PickleValue[]) });
        break;
      }
      case 0x52: { // REDUCE
        const args = value(pop());
        const fn = pop();
        if (!Array.isArray(args)) fail('malformed pickle (REDUCE arguments are not a tuple)');
        stack.push(call(fn, args as PickleValue[]));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args); only the allow-listed containers
        const args = value(pop());
        stack.push(call(pop(), Array.isArray(args) ? args : []));
        break;
      }
      case 0x62: { // BUILD: obj.__setstate__(state); an OrderedDict's state is its _metadata attribute: dropped
        value(pop());
        value(top());
        break;
      }
      case 0x73: { // SETITEM
        const v = value(pop());
        const k = value(pop());
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: { // APPEND
        const v = value(pop());
        const list = top();
        if (!Array.isArray(list)) fail('malformed pickle (APPEND to a non-list)');
        (list as PickleValue[]).push(v);
        break;
      }
      case 0x65: // APPENDS
      case 0x90: { // ADDITEMS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) fail('malformed pickle (APPENDS to a non-list)');
        (list as PickleValue[]).push(...items);
        break;
      }
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at - 1} (not one a state dict uses)`);
    }
  }
}
