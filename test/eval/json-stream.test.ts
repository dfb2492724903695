// The streaming JSON reader must build exactly what JSON.parse builds, whatever the chunk size: every token split at
// every byte boundary. Non-standard tokens (NaN, Infinity) and inexact big integers are reported, not lost.
import { describe, expect, it } from 'vitest';
import { JsonReader, JsonSyntaxError, KeyTable, MemorySource, type ByteSource, type JsonValue } from '../../src/eval/json-stream.js';
import { groundTruthFromJson, readDetections } from '../../src/eval/coco-json.js';
import { Rng } from '../../src/util/rng.js';

function parse(text: string, chunk: number): JsonValue {
  const r = new JsonReader(new MemorySource(text), chunk);
  const v = r.value();
  r.finish();
  return v;
}

function syntaxError(text: string, chunk: number): string {
  try {
    parse(text, chunk);
  } catch (err) {
    expect(err).toBeInstanceOf(JsonSyntaxError);
    return (err as Error).message;
  }
  throw new Error(`expected a syntax error for ${text}`);
}

/** Object.is over a whole tree (so -0 and 0 differ, as the columns would). */
function same(a: unknown, b: unknown): boolean {
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => same(v, b[i]));
  if (a !== null && typeof a === 'object') {
    if (b === null || typeof b !== 'object' || Array.isArray(b)) return false;
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return Object.is(a, b);
}

const SAMPLES = [
  '[]',
  ' { } ',
  '[{"image_id": 1, "category_id": 18, "bbox": [1.5, 2, 3e1, 4E-2], "score": 0.123456789012345678}]',
  '{"a":[1,-0,0.0,-0.0,1e+2,2.5e-3,1E400,-1e-400,123456789012345678901234567890e-10,0.1e1],"b":"x\\"y\\\\z\\u00e9\\ud83d\\ude00 \u00e9\u4e2d😀","c":[true,false,null,[],{}]}',
  '{"__proto__": {"x": 1}, "": "", "k": "\\/\\b\\f\\n\\r\\t"}',
  '\r\n\t[ 1 , 2 ,\n3 ]\n',
  '9007199254740991',
  '-12.5',
  '"plain"',
];

describe('JsonReader', () => {
  it('builds what JSON.parse builds, for every chunk size from 1 byte', () => {
    for (const text of SAMPLES) {
      const expected = JSON.parse(text) as unknown;
      const bytes = new TextEncoder().encode(text).length;
      for (let chunk = 1; chunk <= bytes + 1; chunk++) expect(same(parse(text, chunk), expected), `${text} @ ${chunk}`).toBe(true);
    }
  });

  it('agrees with JSON.parse on random documents at random chunk sizes', () => {
    const rng = new Rng(5);
    const literal = (): string => {
      const int = String(rng.int(10 ** (1 + rng.int(12))));
      const frac = rng.next() < 0.6 ? `.${String(rng.int(10 ** (1 + rng.int(18)))).padStart(1, '0')}` : '';
      const exp = rng.next() < 0.3 ? `e${rng.next() < 0.5 ? '-' : '+'}${rng.int(30)}` : '';
      return `${rng.next() < 0.3 ? '-' : ''}${int}${frac}${exp}`;
    };
    const value = (depth: number): string => {
      const pick = rng.int(depth > 3 ? 3 : 6);
      if (pick === 0) return literal();
      if (pick === 1) return JSON.stringify(`s${rng.int(1000)}\u00e9"\\\n`.slice(0, rng.int(8)));
      if (pick === 2) return ['true', 'false', 'null'][rng.int(3)]!;
      if (pick === 3) return `[${Array.from({ length: rng.int(5) }, () => value(depth + 1)).join(rng.next() < 0.5 ? ',' : ' , ')}]`;
      return `{${Array.from({ length: rng.int(5) }, (_, i) => `"k${i}" :${value(depth + 1)}`).join(',\n')}}`;
    };
    for (let trial = 0; trial < 200; trial++) {
      const text = value(0);
      const chunk = 1 + rng.int(17);
      expect(same(parse(text, chunk), JSON.parse(text)), `${text} @ ${chunk}`).toBe(true);
    }
  });

  it('reads NaN, Infinity and -Infinity as numbers, split anywhere', () => {
    const text = '[NaN, Infinity, -Infinity, 1]';
    for (let chunk = 1; chunk < text.length; chunk++) {
      const v = parse(text, chunk) as number[];
      expect(Number.isNaN(v[0])).toBe(true);
      expect(v.slice(1)).toEqual([Infinity, -Infinity, 1]);
    }
  });

  it('returns integers a double cannot hold exactly as bigints', () => {
    for (let chunk = 1; chunk < 30; chunk += 3) {
      expect(parse('[9007199254740993, 9007199254740992, -9007199254740995, 1e300, 18446744073709551616]', chunk)).toEqual([
        9007199254740993n,
        9007199254740992,
        -9007199254740995n,
        1e300,
        18446744073709551616,
      ]);
    }
  });

  it('names the byte offset of malformed JSON', () => {
    for (const chunk of [1, 2, 3, 64]) {
      expect(syntaxError('[1, 2', chunk)).toBe("expected ',' or ']' after an array element, got the end of the file at byte 5");
      expect(syntaxError('[1 2]', chunk)).toBe("expected ',' or ']' after an array element, got '2' at byte 3");
      expect(syntaxError('{"a" 1}', chunk)).toBe("expected ':', got '1' at byte 5");
      expect(syntaxError('[01]', chunk)).toBe("expected ',' or ']' after an array element, got '1' at byte 2");
      expect(syntaxError('[1.]', chunk)).toBe('expected a digit after the decimal point at byte 3');
      expect(syntaxError('["ab', chunk)).toBe('unterminated string at byte 4');
      expect(syntaxError('[tru]', chunk)).toBe("unexpected 't' at byte 1");
      expect(syntaxError('[-NaN]', chunk)).toBe("expected a value, got 'N' at byte 2");
      expect(syntaxError('[1] x', chunk)).toBe("unexpected 'x' after the JSON value at byte 4");
      expect(syntaxError('', chunk)).toBe('unexpected end of the file at byte 0');
      expect(syntaxError('["a\nb"]', chunk)).toBe('control character in a string at byte 3');
    }
  });

  it('matches keys of a table without building them, and walks arrays and objects', () => {
    const table = new KeyTable(['image_id', 'bbox', 'é']);
    const text = '[{"image_id": 3, "other": [1, {"x": 2}], "bbox": [1, 2, 3, 4], "\\u00e9": 5}, {}]';
    for (let chunk = 1; chunk < text.length; chunk += 2) {
      const r = new JsonReader(new MemorySource(text), chunk);
      const seen: [number, number, string, JsonValue][] = [];
      r.arrayItems((index) => {
        r.objectKeys(table, (k, key) => {
          if (k < 0) {
            r.skip();
            seen.push([index, k, key, null]);
          } else seen.push([index, k, key, r.value()]);
        });
      });
      r.finish();
      expect(seen).toEqual([
        [0, 0, 'image_id', 3],
        [0, -1, 'other', null],
        [0, 1, 'bbox', [1, 2, 3, 4]],
        [0, 2, 'é', 5],
      ]);
    }
  });

  it('holds one chunk, not the stream: 50,000 detections generated on the fly through 4 KiB chunks', () => {
    const count = 50_000;
    /** `[{...},{...}, ...]` produced as it is read; never held whole. */
    class Generated implements ByteSource {
      private next = 0;
      private pending = new Uint8Array(0);
      private readonly encoder = new TextEncoder();
      read(into: Uint8Array, offset: number, length: number): number {
        while (this.pending.length === 0 && this.next <= count) {
          const i = this.next++;
          const text = i === count ? ']' : `${i === 0 ? '[' : ','}{"image_id": ${1 + (i % 3)}, "category_id": 7, "bbox": [${i % 100}.5, 2, 3e1, ${i % 7}], "score": 0.${i % 1000}}`;
          this.pending = this.encoder.encode(text);
        }
        const n = Math.min(length, this.pending.length);
        into.set(this.pending.subarray(0, n), offset);
        this.pending = this.pending.subarray(n);
        return n;
      }
    }
    const reader = new JsonReader(new Generated(), 4096);
    let items = 0;
    reader.arrayItems(() => {
      reader.skip();
      items++;
    });
    reader.finish();
    expect(items).toBe(count);
    expect(reader.bufferBytes).toBeLessThanOrEqual(4097);

    const gt = groundTruthFromJson({ images: [{ id: 1 }, { id: 2 }, { id: 3 }], categories: [{ id: 7 }], annotations: [] }, 'gt.json');
    const dt = readDetections('generated.json', gt, { chunkBytes: 4096 }, new Generated());
    expect(dt.score.length).toBe(count);
    const last = count - 1;
    expect(Array.from(dt.bbox.subarray(4 * last, 4 * last + 4))).toEqual([(last % 100) + 0.5, 2, 30, last % 7]);
    expect(dt.score[last]).toBe(Number(`0.${last % 1000}`));
    expect(dt.imageId[last]).toBe(1 + (last % 3));
  });
});
