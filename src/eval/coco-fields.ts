/**
 * One COCO record's fields as the readers take them (from the stream or from a parsed object), their validation
 * into numbers with InputErrors naming file, index and field, and the growable columns they fill.
 */
import { inputError } from '../util/errors.js';
import type { JsonReader, JsonValue, KeyTable } from './json-stream.js';

/** A field's value: absent, or JSON. */
export type Json = JsonValue | undefined;

export function kind(v: Json): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'bigint') return `number ${v}`;
  return typeof v === 'number' ? `number ${String(v)}` : `${typeof v} ${short(v)}`;
}

export function short(v: Json): string {
  // Numbers as JavaScript writes them (NaN, Infinity and big integers included), the rest as JSON.
  const s =
    Array.isArray(v) && v.every((x) => typeof x === 'number' || typeof x === 'bigint')
      ? `[${v.join(',')}]`
      : (JSON.stringify(v, (_, x: unknown) => (typeof x === 'bigint' ? Number(x) : x)) ?? String(v));
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

const TWO_53 = 2 ** 53;

export const ABSENT = 0;
export const NUMBER = 1;
export const OTHER = 2;
/** bbox read as exactly 4 numbers into `box`. */
export const BOX = 3;

/** The fields of one record that a reader wants, by index in its key table: numbers kept unboxed. */
export class Fields {
  readonly kind: Uint8Array;
  readonly num: Float64Array;
  readonly other: Json[];
  readonly box = new Float64Array(4);
  /** False when the values come from an already parsed object, where an integer beyond 2^53 may have been rounded. */
  exact = true;

  constructor(
    readonly table: KeyTable,
    /** Index of the bbox key, or -1. */
    readonly boxKey = -1,
  ) {
    const n = table.keys.length;
    this.kind = new Uint8Array(n);
    this.num = new Float64Array(n);
    this.other = new Array<Json>(n).fill(undefined);
  }

  clear(): void {
    this.kind.fill(ABSENT);
  }

  has(k: number): boolean {
    return this.kind[k] !== ABSENT;
  }

  /** The value as JSON (for messages). */
  value(k: number): Json {
    const t = this.kind[k];
    if (t === NUMBER) return this.num[k];
    if (t === BOX) return Array.from(this.box);
    if (t === OTHER) return this.other[k];
    return undefined;
  }

  /** Takes the fields from a parsed object. */
  fromObject(obj: { [key: string]: JsonValue }): void {
    this.exact = false;
    this.table.keys.forEach((key, k) => {
      const v = Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
      if (v === undefined) this.kind[k] = ABSENT;
      else if (typeof v === 'number') {
        this.kind[k] = NUMBER;
        this.num[k] = v;
      } else if (k === this.boxKey && Array.isArray(v) && v.length === 4 && v.every((x) => typeof x === 'number')) {
        this.kind[k] = BOX;
        this.box.set(v as number[]);
      } else {
        this.kind[k] = OTHER;
        this.other[k] = v;
      }
    });
  }

  /** Reads the value of key `k` from the stream. */
  read(r: JsonReader, k: number): void {
    const c = r.peek();
    if (isNumberStart(c)) {
      const t = r.numberToken();
      if (t.big === null) {
        this.kind[k] = NUMBER;
        this.num[k] = t.value;
      } else {
        this.kind[k] = OTHER;
        this.other[k] = t.big;
      }
    } else if (k === this.boxKey && c === 0x5b) {
      // [x, y, w, h] straight into `box`; anything else is kept as the array it is.
      this.reader = r;
      this.boxCount = 0;
      this.boxItems = null;
      r.arrayItems(this.boxItem);
      if (this.boxItems === null && this.boxCount === 4) this.kind[k] = BOX;
      else {
        this.kind[k] = OTHER;
        this.other[k] = this.boxItems ?? Array.from(this.box.subarray(0, this.boxCount));
      }
    } else {
      this.kind[k] = OTHER;
      this.other[k] = r.value();
    }
  }

  private reader: JsonReader | null = null;
  private boxCount = 0;
  /** The bbox as read so far, once it is not 4 plain numbers. */
  private boxItems: Json[] | null = null;
  private readonly boxItem = (i: number): void => {
    const r = this.reader!;
    if (this.boxItems === null && i < 4 && isNumberStart(r.peek())) {
      const t = r.numberToken();
      if (t.big === null) {
        this.box[i] = t.value;
        this.boxCount++;
        return;
      }
      this.boxItems = [...Array.from(this.box.subarray(0, i)), t.big];
      return;
    }
    this.boxItems ??= Array.from(this.box.subarray(0, i));
    this.boxItems.push(r.value());
  };
}

export function isNumberStart(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x4e || c === 0x49;
}

export interface Where {
  file: string;
  index: number;
}

export function finite(f: Fields, k: number, w: Where, field: string): number {
  const t = f.kind[k];
  if (t === NUMBER && Number.isFinite(f.num[k])) return f.num[k]!;
  if (t === ABSENT) throw inputError(w.file, 'missing key', { index: w.index, field });
  const v = f.value(k);
  if (typeof v === 'bigint') return Number(v);
  throw inputError(w.file, `must be a finite number, got ${kind(v)}`, { index: w.index, field });
}

/** An id: a finite number a double holds exactly, or a string. */
export function idValue(f: Fields, k: number, w: Where, field: string): number | string {
  const t = f.kind[k];
  if (t === ABSENT) throw inputError(w.file, 'missing key', { index: w.index, field });
  const v = f.value(k);
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') {
    throw inputError(w.file, `id ${v} is not exactly representable as a double (it would read as ${Number(v)}, merging distinct ids); use ids below 2^53 or strings`, {
      index: w.index,
      field,
    });
  }
  if (!f.exact && typeof v === 'number' && Number.isInteger(v) && Math.abs(v) >= TWO_53) {
    // An already parsed number: whether the text held exactly this integer is lost.
    throw inputError(w.file, `id ${v} is at or above 2^53, where parsed numbers may have merged distinct ids; use ids below 2^53 or strings`, {
      index: w.index,
      field,
    });
  }
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  throw inputError(w.file, `must be a finite number or a string, got ${kind(v)}`, { index: w.index, field });
}

/** Reads `[x, y, w, h]`: 4 finite numbers with w, h >= 0, into `out[4 * j ..]`. */
export function bbox(f: Fields, k: number, w: Where, field: string, out: Float64Array, j: number, resultsHint?: string): void {
  const t = f.kind[k];
  if (t === ABSENT) throw inputError(w.file, resultsHint === undefined ? 'missing key' : `missing key: ${resultsHint}`, { index: w.index, field });
  let x: number, y: number, bw: number, bh: number;
  if (t === BOX) [x, y, bw, bh] = f.box as unknown as [number, number, number, number];
  else {
    const v = f.value(k);
    if (!Array.isArray(v) || v.length !== 4 || !v.every((e) => typeof e === 'number' || typeof e === 'bigint')) {
      throw inputError(w.file, `must be 4 finite numbers [x, y, w, h], got ${short(v)}`, { index: w.index, field });
    }
    [x, y, bw, bh] = v.map(Number) as [number, number, number, number];
  }
  if (!(Number.isFinite(x) && Number.isFinite(y) && Number.isFinite(bw) && Number.isFinite(bh))) {
    throw inputError(w.file, `must be 4 finite numbers [x, y, w, h], got ${short([x, y, bw, bh])}`, { index: w.index, field });
  }
  if (bw < 0 || bh < 0) throw inputError(w.file, `width and height must be >= 0, got [${x}, ${y}, ${bw}, ${bh}]`, { index: w.index, field });
  out[4 * j] = x;
  out[4 * j + 1] = y;
  out[4 * j + 2] = bw;
  out[4 * j + 3] = bh;
}

/** Float64 columns grown by doubling; `view` returns the filled part without copying. */
export class Column {
  data: Float64Array;
  constructor(
    capacity: number,
    readonly width = 1,
  ) {
    this.data = new Float64Array(Math.max(1, capacity) * width);
  }
  ensure(n: number): void {
    if (n * this.width <= this.data.length) return;
    const bigger = new Float64Array(Math.max(n * this.width, this.data.length * 2));
    bigger.set(this.data);
    this.data = bigger;
  }
  view(n: number): Float64Array {
    return this.data.subarray(0, n * this.width);
  }
}
