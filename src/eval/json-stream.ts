/**
 * A pull parser for JSON read as bytes from a stream, chunk by chunk, so that files of any size are read without
 * holding them whole (Node's strings stop at 512 MiB). The caller walks the document (`arrayItems`, `objectKeys`)
 * and reads only the values it needs; everything else is skipped with its syntax checked, without being built.
 *
 * Beyond RFC 8259 it reads the tokens `NaN`, `Infinity` and `-Infinity` (Python's `json.dump` writes them) as the
 * numbers they name, so that the caller can say which record and field holds one. An integer literal whose value a
 * double cannot hold exactly (beyond 2^53) is returned as a `bigint`, for the same reason.
 *
 * Numbers convert exactly as `Number()` converts their text (correctly rounded). A token split across two chunks is
 * read again from its first byte once the next chunk is in: the buffer keeps the unfinished token and grows when one
 * token is longer than it.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** A JSON value as this parser builds it (`bigint`: an integer literal not exactly representable as a double). */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

/** Where bytes come from: `read` fills `into[offset .. offset + length)` and returns the count, 0 at the end. */
export interface ByteSource {
  read(into: Uint8Array, offset: number, length: number): number;
}

/** Malformed JSON at a byte offset of the stream. */
export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly byteOffset: number,
  ) {
    super(`${message} at byte ${byteOffset}`);
    this.name = 'JsonSyntaxError';
  }
}

/** Bytes of an open file, read with `readSync` from the current position. */
export class FileSource implements ByteSource {
  private readonly fd: number;
  constructor(path: string) {
    this.fd = openSync(path, 'r');
  }
  read(into: Uint8Array, offset: number, length: number): number {
    return readSync(this.fd, into, offset, length, null);
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** Bytes held in memory (tests, small inputs); text is encoded as UTF-8. */
export class MemorySource implements ByteSource {
  private readonly bytes: Uint8Array;
  private at = 0;
  constructor(data: Uint8Array | string) {
    this.bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  }
  read(into: Uint8Array, offset: number, length: number): number {
    const n = Math.min(length, this.bytes.length - this.at);
    into.set(this.bytes.subarray(this.at, this.at + n), offset);
    this.at += n;
    return n;
  }
}

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/** 1e0 .. 1e22: every one an exact double. */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));
const TWO_53 = 2 ** 53;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

/** Object keys a reader looks for, matched byte by byte (no string is built for a key): index in the list, or -1. */
export class KeyTable {
  readonly bytes: Uint8Array[];
  constructor(readonly keys: readonly string[]) {
    this.bytes = keys.map((k) => new TextEncoder().encode(k));
  }
}

/** What a number token turned into. */
export interface NumberToken {
  value: number;
  /** The exact integer when the literal is an integer a double cannot hold (|value| > 2^53, not exact); else null. */
  big: bigint | null;
}

/** The default chunk: 1 MiB. */
export const DEFAULT_CHUNK_BYTES = 1 << 20;

export class JsonReader {
  private buf: Uint8Array;
  /** Position of the next byte in `buf`. */
  private pos = 0;
  /** End of the bytes in `buf` (`buf[end]` is a 0 sentinel). */
  private end = 0;
  /** Stream offset of `buf[0]`. */
  private base = 0;
  private done = false;
  private readonly chunk: number;
  private readonly number: NumberToken = { value: 0, big: null };

  /** @param chunkBytes bytes asked of the source per read (tests use a few, to split every token). */
  constructor(
    private readonly source: ByteSource,
    chunkBytes = DEFAULT_CHUNK_BYTES,
  ) {
    if (!(chunkBytes >= 1)) throw new RangeError(`chunkBytes must be >= 1, got ${chunkBytes}`);
    this.chunk = Math.floor(chunkBytes);
    this.buf = new Uint8Array(this.chunk + 1);
  }

  /** Bytes the reader holds: one chunk, or one token when a token is longer (never the whole stream). */
  get bufferBytes(): number {
    return this.buf.length;
  }

  /**
   * Reads more bytes, keeping `buf[keep .. end)` (moved to the front; `pos` is rebased, the caller's other
   * positions are stale, so it scans again). False only once the end of the stream has been seen, without moving.
   */
  private refill(keep: number): boolean {
    if (this.done) return false;
    const kept = this.end - keep;
    let buf = this.buf;
    if (kept + this.chunk + 1 > buf.length) {
      // One token longer than the buffer: grow (kept bytes move to the front below).
      const bigger = new Uint8Array(Math.max(buf.length * 2, kept + this.chunk + 1));
      bigger.set(buf.subarray(keep, this.end));
      buf = bigger;
    } else if (keep > 0) {
      buf.copyWithin(0, keep, this.end);
    }
    this.buf = buf;
    this.base += keep;
    this.pos -= keep;
    this.end = kept;
    const n = this.source.read(buf, kept, this.chunk);
    if (n === 0) this.done = true;
    this.end += n;
    buf[this.end] = 0;
    return true;
  }

  private fail(message: string, at = this.pos): never {
    throw new JsonSyntaxError(message, this.base + at);
  }

  private describe(at: number): string {
    if (at >= this.end) return 'the end of the file';
    const c = this.buf[at]!;
    return c >= 0x21 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
  }

  /** Skips whitespace; the next byte, or -1 at the end of the stream. */
  peek(): number {
    for (;;) {
      const buf = this.buf;
      let p = this.pos;
      let c = buf[p]!;
      while (c === SPACE || c === LF || c === CR || c === TAB) c = buf[++p]!;
      this.pos = p;
      if (p < this.end) return c;
      if (!this.refill(p)) return -1;
    }
  }

  /** Consumes `code` (after whitespace) when it is next; false otherwise. */
  eat(code: number): boolean {
    if (this.peek() !== code) return false;
    this.pos++;
    return true;
  }

  private expect(code: number, what: string): void {
    if (!this.eat(code)) this.fail(`expected ${what}, got ${this.describe(this.pos)}`);
  }

  /** The document's end: fails unless only whitespace remains. */
  finish(): void {
    if (this.peek() !== -1) this.fail(`unexpected ${this.describe(this.pos)} after the JSON value`);
  }

  /**
   * Walks an array: `item(index)` must consume exactly one value each time. Fails unless the next value is an
   * array; `what` names it in the message.
   */
  arrayItems(item: (index: number) => void): void {
    this.expect(LBRACKET, "'['");
    if (this.eat(RBRACKET)) return;
    let index = 0;
    for (;;) {
      item(index++);
      const c = this.peek();
      this.pos++;
      if (c === COMMA) continue;
      if (c === RBRACKET) return;
      this.pos--;
      this.fail(`expected ',' or ']' after an array element, got ${this.describe(this.pos)}`);
    }
  }

  /**
   * Walks an object: `entry(keyIndex, key)` must consume the value after each key. `keyIndex` is the key's index in
   * `table`, or -1 (a key in the table costs no string of its own).
   */
  objectKeys(table: KeyTable, entry: (keyIndex: number, key: string) => void): void {
    this.expect(LBRACE, "'{'");
    if (this.eat(RBRACE)) return;
    for (;;) {
      if (this.peek() !== QUOTE) this.fail(`expected a string key, got ${this.describe(this.pos)}`);
      const [start, stop, plain] = this.scanString();
      let k = plain ? this.matchKey(table, start, stop) : -1;
      let key: string;
      if (k >= 0) key = table.keys[k]!;
      else {
        key = this.decodeString(start, stop, plain);
        if (!plain) k = table.keys.indexOf(key);
      }
      this.expect(COLON, "':'");
      entry(k, key);
      const c = this.peek();
      this.pos++;
      if (c === COMMA) continue;
      if (c === RBRACE) return;
      this.pos--;
      this.fail(`expected ',' or '}' after an object member, got ${this.describe(this.pos)}`);
    }
  }

  private matchKey(table: KeyTable, start: number, stop: number): number {
    const buf = this.buf;
    const n = stop - start;
    outer: for (let k = 0; k < table.bytes.length; k++) {
      const b = table.bytes[k]!;
      if (b.length !== n) continue;
      for (let i = 0; i < n; i++) if (buf[start + i] !== b[i]) continue outer;
      return k;
    }
    return -1;
  }

  /**
   * Scans a string token at `pos` (its opening quote) to past its closing quote. Returns the content's bounds in
   * `buf` and whether it is plain ASCII without escapes. Valid until the next read.
   */
  private scanString(): [number, number, boolean] {
    for (;;) {
      const buf = this.buf;
      const start = this.pos + 1;
      let p = start;
      let plain = true;
      let c = buf[p]!;
      for (;;) {
        if (c === QUOTE) break;
        if (c === BACKSLASH) {
          plain = false;
          p += 2;
          if (p > this.end) break; // the escaped byte is in the next chunk
        } else {
          if (c < SPACE) break;
          if (c >= 0x80) plain = false;
          p++;
        }
        c = buf[p]!;
      }
      if (p >= this.end) {
        if (this.refill(this.pos)) continue;
        this.fail('unterminated string', this.end);
      }
      if (c !== QUOTE) this.fail('control character in a string', p);
      this.pos = p + 1;
      return [start, p, plain];
    }
  }

  private decodeString(start: number, stop: number, plain: boolean): string {
    const bytes = this.buf.subarray(start, stop);
    if (plain) return latin1.decode(bytes);
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      this.fail('invalid UTF-8 in a string', start);
    }
    try {
      return JSON.parse(`"${text}"`) as string;
    } catch {
      this.fail('invalid escape in a string', start);
    }
  }

  /** A string value. */
  string(): string {
    if (this.peek() !== QUOTE) this.fail(`expected a string, got ${this.describe(this.pos)}`);
    const [start, stop, plain] = this.scanString();
    return this.decodeString(start, stop, plain);
  }

  /**
   * A number token (after whitespace), including `NaN`, `Infinity` and `-Infinity`. The result object is reused by
   * the next call.
   */
  numberToken(): NumberToken {
    const out = this.number;
    out.big = null;
    for (;;) {
      const c0 = this.peek();
      const buf = this.buf;
      const start = this.pos;
      let p = start;
      const negative = c0 === MINUS;
      if (negative) p++;
      let mantissa = 0;
      let digits = 0;
      let exp10 = 0;
      let integer = true;
      const first = buf[p]!;
      if (first === ZERO) p++;
      else if (first > ZERO && first <= NINE) {
        do {
          mantissa = mantissa * 10 + (buf[p]! - ZERO);
          digits++;
          p++;
        } while (isDigit(buf[p]!));
      } else {
        if (p >= this.end && this.refill(start)) continue;
        const word = first === 0x4e && !negative ? 'NaN' : first === 0x49 ? 'Infinity' : '';
        if (word !== '' && this.literalAt(p - start, word)) {
          this.pos += p - start + word.length;
          out.value = word === 'NaN' ? NaN : negative ? -Infinity : Infinity;
          return out;
        }
        this.fail(`expected a value, got ${this.describe(this.pos + (p - start))}`, this.pos + (p - start));
      }
      if (buf[p] === DOT) {
        integer = false;
        p++;
        if (!isDigit(buf[p]!)) {
          if (p >= this.end && this.refill(start)) continue;
          this.fail('expected a digit after the decimal point', p);
        }
        do {
          const d = buf[p]! - ZERO;
          if (digits > 0 || d !== 0) {
            mantissa = mantissa * 10 + d;
            digits++;
          }
          exp10--;
          p++;
        } while (isDigit(buf[p]!));
      }
      const e = buf[p];
      if (e === 0x65 || e === 0x45) {
        integer = false;
        p++;
        const sign = buf[p];
        if (sign === PLUS || sign === MINUS) p++;
        if (!isDigit(buf[p]!)) {
          if (p >= this.end && this.refill(start)) continue;
          this.fail('expected a digit in the exponent', p);
        }
        let written = 0;
        do {
          if (written < 1e9) written = written * 10 + (buf[p]! - ZERO);
          p++;
        } while (isDigit(buf[p]!));
        exp10 += sign === MINUS ? -written : written;
      }
      // The token may go on in the next chunk.
      if (p >= this.end && this.refill(start)) continue;
      this.pos = p;
      if (digits <= 15 && exp10 >= -22 && exp10 <= 22) {
        const magnitude = exp10 >= 0 ? mantissa * POW10[exp10]! : mantissa / POW10[-exp10]!;
        out.value = negative ? -magnitude : magnitude;
        return out;
      }
      const text = latin1.decode(buf.subarray(start, p));
      out.value = Number(text);
      if (integer && Math.abs(out.value) >= TWO_53) {
        const exact = BigInt(text);
        if (BigInt(out.value) !== exact) out.big = exact;
      }
      return out;
    }
  }

  /** True when `word` is at `pos + rel` (reading on as needed; `pos` is rebased by a read, `rel` stays valid). */
  private literalAt(rel: number, word: string): boolean {
    while (this.end - (this.pos + rel) < word.length && this.refill(this.pos));
    const p = this.pos + rel;
    for (let i = 0; i < word.length; i++) if (this.buf[p + i] !== word.charCodeAt(i)) return false;
    return true;
  }

  /** A number value (NaN and the infinities included); an inexact big integer as a bigint. */
  numberValue(): number | bigint {
    const t = this.numberToken();
    return t.big ?? t.value;
  }

  /** Any value, built. */
  value(): JsonValue {
    const c = this.peek();
    if (c === LBRACE) {
      const obj: { [key: string]: JsonValue } = {};
      this.objectKeys(EMPTY_KEYS, (_, key) => {
        const v = this.value();
        if (key === '__proto__') Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
        else obj[key] = v;
      });
      return obj;
    }
    if (c === LBRACKET) {
      const list: JsonValue[] = [];
      this.arrayItems(() => {
        list.push(this.value());
      });
      return list;
    }
    if (c === QUOTE) return this.string();
    if (c === 0x74) return this.word('true', true);
    if (c === 0x66) return this.word('false', false);
    if (c === 0x6e) return this.word('null', null);
    if (c === -1) this.fail('unexpected end of the file');
    return this.numberValue();
  }

  private word<T>(word: string, value: T): T {
    if (!this.literalAt(0, word)) this.fail(`unexpected ${this.describe(this.pos)}`);
    this.pos += word.length;
    return value;
  }

  /** Skips any value, checking its syntax, without building it. */
  skip(): void {
    const c = this.peek();
    if (c === LBRACE) {
      this.objectKeys(EMPTY_KEYS, () => this.skip());
    } else if (c === LBRACKET) {
      this.arrayItems(() => this.skip());
    } else if (c === QUOTE) {
      this.scanString();
    } else if (c === 0x74) this.word('true', true);
    else if (c === 0x66) this.word('false', false);
    else if (c === 0x6e) this.word('null', null);
    else if (c === -1) this.fail('unexpected end of the file');
    else this.numberToken();
  }
}

const EMPTY_KEYS = new KeyTable([]);
