/**
 * A fast path for reading COCO results JSON: scans the text straight into typed arrays, without building an
 * object per detection. It accepts only well-formed, valid input and returns null on anything else, so that the
 * caller falls back to `JSON.parse` + validation, which produces the precise error. For valid input the result is
 * identical to that path (numbers are converted by the same correctly rounded decimal-to-double conversion).
 */
import type { DetectionSet } from './cocoeval.js';

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

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  skipWs(): void {
    const t = this.text;
    let p = this.pos;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === SPACE || c === LF || c === CR || c === TAB) p++;
      else break;
    }
    this.pos = p;
  }

  /** Consumes `code` after optional whitespace; false when it is not there. */
  eat(code: number): boolean {
    this.skipWs();
    if (this.text.charCodeAt(this.pos) !== code) return false;
    this.pos++;
    return true;
  }

  /**
   * A JSON number (strict grammar) after optional whitespace, or NaN when there is none. Numbers with at most 15
   * significant digits and a decimal exponent within +-22 are converted exactly as `Number()` would (the mantissa
   * and the power of ten are exact doubles, so one multiplication or division rounds correctly); others go
   * through `Number()`.
   */
  number(): number {
    this.skipWs();
    const t = this.text;
    const start = this.pos;
    let p = start;
    const negative = t.charCodeAt(p) === MINUS;
    if (negative) p++;
    let mantissa = 0;
    let digits = 0; // significant digits taken into the mantissa
    let exp10 = 0;
    const first = t.charCodeAt(p);
    if (first === ZERO) p++;
    else if (first > ZERO && first <= NINE) {
      do {
        mantissa = mantissa * 10 + (t.charCodeAt(p) - ZERO);
        digits++;
        p++;
      } while (isDigit(t.charCodeAt(p)));
    } else return NaN;
    if (t.charCodeAt(p) === DOT) {
      p++;
      if (!isDigit(t.charCodeAt(p))) return NaN;
      do {
        const d = t.charCodeAt(p) - ZERO;
        if (digits > 0 || d !== 0) {
          mantissa = mantissa * 10 + d;
          digits++;
        }
        exp10--;
        p++;
      } while (isDigit(t.charCodeAt(p)));
    }
    const e = t.charCodeAt(p);
    if (e === 0x65 || e === 0x45) {
      p++;
      const sign = t.charCodeAt(p);
      if (sign === PLUS || sign === MINUS) p++;
      if (!isDigit(t.charCodeAt(p))) return NaN;
      let written = 0;
      do {
        written = written * 10 + (t.charCodeAt(p) - ZERO);
        p++;
      } while (isDigit(t.charCodeAt(p)));
      exp10 += sign === MINUS ? -written : written;
    }
    this.pos = p;
    if (digits <= 15 && exp10 >= -22 && exp10 <= 22) {
      const magnitude = exp10 >= 0 ? mantissa * POW10[exp10]! : mantissa / POW10[-exp10]!;
      return negative ? -magnitude : magnitude;
    }
    return Number(t.slice(start, p));
  }

  /** A string without escapes or control characters (an object key), after optional whitespace; null otherwise. */
  plainString(): string | null {
    if (!this.eat(QUOTE)) return null;
    const t = this.text;
    const start = this.pos;
    let p = start;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === QUOTE) break;
      if (c === BACKSLASH || c < SPACE || Number.isNaN(c)) return null;
      p++;
    }
    this.pos = p + 1;
    return t.slice(start, p);
  }

  /** Skips any JSON value, checked by JSON.parse on its own text; false when it is malformed. */
  skipValue(): boolean {
    this.skipWs();
    const t = this.text;
    const start = this.pos;
    let p = start;
    let depth = 0;
    for (;;) {
      const c = t.charCodeAt(p);
      if (Number.isNaN(c)) return false;
      if (c === QUOTE) {
        p++;
        for (;;) {
          const s = t.charCodeAt(p);
          if (Number.isNaN(s)) return false;
          if (s === BACKSLASH) p += 2;
          else if (s === QUOTE) break;
          else p++;
        }
        p++;
      } else if (c === LBRACE || c === LBRACKET) {
        depth++;
        p++;
      } else if (c === RBRACE || c === RBRACKET) {
        if (depth === 0) break;
        depth--;
        p++;
      } else if (c === COMMA && depth === 0) {
        break;
      } else {
        p++;
      }
      if (depth === 0 && (c === QUOTE || c === RBRACE || c === RBRACKET)) break;
    }
    try {
      JSON.parse(t.slice(start, p));
    } catch {
      return false;
    }
    this.pos = p;
    return true;
  }
}

/** 1e0 .. 1e22: every one an exact double. */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

/** Growable columns. */
class Columns {
  n = 0;
  imageId: Float64Array;
  categoryId: Float64Array;
  bbox: Float64Array;
  score: Float64Array;

  constructor(capacity: number) {
    this.imageId = new Float64Array(capacity);
    this.categoryId = new Float64Array(capacity);
    this.bbox = new Float64Array(4 * capacity);
    this.score = new Float64Array(capacity);
  }

  ensureRoom(): void {
    if (this.n < this.score.length) return;
    const grow = (a: Float64Array): Float64Array => {
      const b = new Float64Array(a.length * 2);
      b.set(a);
      return b;
    };
    this.imageId = grow(this.imageId);
    this.categoryId = grow(this.categoryId);
    this.bbox = grow(this.bbox);
    this.score = grow(this.score);
  }

  toSet(): DetectionSet {
    return {
      imageId: this.imageId.slice(0, this.n),
      categoryId: this.categoryId.slice(0, this.n),
      bbox: this.bbox.slice(0, 4 * this.n),
      score: this.score.slice(0, this.n),
    };
  }
}

/**
 * Scans results JSON text (`[{image_id, category_id, bbox: [x, y, w, h], score, ...}, ...]`) into a DetectionSet,
 * or returns null when the text is not well-formed or any detection is invalid (missing key, non-finite number,
 * negative width/height, unknown image or category id).
 */
export function scanDetections(text: string, imageIds: ReadonlySet<number>, categoryIds: ReadonlySet<number>): DetectionSet | null {
  const s = new Scanner(text);
  const out = new Columns(Math.max(16, Math.ceil(text.length / 64)));
  if (!s.eat(LBRACKET)) return null;
  if (!s.eat(RBRACKET)) {
    do {
      if (!s.eat(LBRACE)) return null;
      let imageId = NaN;
      let categoryId = NaN;
      let score = NaN;
      let x = NaN;
      let y = NaN;
      let w = NaN;
      let h = NaN;
      do {
        const key = s.plainString();
        if (key === null || !s.eat(COLON)) return null;
        if (key === 'image_id') imageId = s.number();
        else if (key === 'category_id') categoryId = s.number();
        else if (key === 'score') score = s.number();
        else if (key === 'bbox') {
          if (!s.eat(LBRACKET)) return null;
          x = s.number();
          if (!s.eat(COMMA)) return null;
          y = s.number();
          if (!s.eat(COMMA)) return null;
          w = s.number();
          if (!s.eat(COMMA)) return null;
          h = s.number();
          if (!s.eat(RBRACKET)) return null;
        } else if (!s.skipValue()) return null;
      } while (s.eat(COMMA));
      if (!s.eat(RBRACE)) return null;
      // Every check of the validating path; any failure hands over to it for the error message.
      if (!(Number.isFinite(imageId) && Number.isFinite(categoryId) && Number.isFinite(score))) return null;
      if (!(Number.isFinite(x) && Number.isFinite(y) && Number.isFinite(w) && Number.isFinite(h)) || w < 0 || h < 0) return null;
      if (!imageIds.has(imageId) || !categoryIds.has(categoryId)) return null;
      out.ensureRoom();
      const j = out.n++;
      out.imageId[j] = imageId;
      out.categoryId[j] = categoryId;
      out.score[j] = score;
      out.bbox[4 * j] = x;
      out.bbox[4 * j + 1] = y;
      out.bbox[4 * j + 2] = w;
      out.bbox[4 * j + 3] = h;
    } while (s.eat(COMMA));
    if (!s.eat(RBRACKET)) return null;
  }
  s.skipWs();
  return s.pos === text.length ? out.toSet() : null;
}
