/**
 * COCO ids as the files write them: numbers, or strings (pycocotools evaluates both, one kind per family). String
 * ids become their rank in code-point order (the order Python sorts them in), so the evaluator sees numbers.
 */
import { inputError } from '../util/errors.js';

/** How one family of ids (images or categories) is written in the ground truth. */
export interface IdSpace {
  /** The ids as written: numbers (used as they are) or strings (used as their rank, see `strings`). */
  kind: 'number' | 'string';
  /** For string ids: every declared id in code-point order; the evaluator's id of `strings[r]` is `r`. */
  strings: readonly string[];
}

/** An id for a message: strings quoted. */
export function idText(id: number | string): string {
  return typeof id === 'string' ? JSON.stringify(id) : String(id);
}

/** Code-point order (as Python and numpy compare strings), not UTF-16 order. */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}

/** Collects one family's declared ids; {@link IdCollector.space} decides their kind and the string ranks. */
export class IdCollector {
  private numbers = 0;
  private readonly strings = new Set<string>();
  private firstOfKind: { number?: number; string?: number } = {};

  add(id: number | string, index: number): void {
    if (typeof id === 'string') {
      this.strings.add(id);
      this.firstOfKind.string ??= index;
    } else {
      this.numbers++;
      this.firstOfKind.number ??= index;
    }
  }

  space(file: string, field: string): { space: IdSpace; rank: Map<string, number> } {
    if (this.numbers > 0 && this.strings.size > 0) {
      const index = Math.max(this.firstOfKind.number!, this.firstOfKind.string!);
      throw inputError(file, 'ids mix numbers and strings (pycocotools cannot sort them); use one kind', { index, field });
    }
    if (this.strings.size === 0) return { space: { kind: 'number', strings: [] }, rank: new Map() };
    const strings = [...this.strings].sort(compareCodePoints);
    return { space: { kind: 'string', strings }, rank: new Map(strings.map((s, r) => [s, r])) };
  }
}

/** The evaluator's id of an id as written, in a family: its number, its string's rank, or undefined (unknown). */
export function resolveId(id: number | string, space: IdSpace, rank: ReadonlyMap<string, number>): number | undefined {
  if (space.kind === 'number') return typeof id === 'number' ? id : undefined;
  return typeof id === 'string' ? rank.get(id) : undefined;
}

/** The evaluator's id of a text token (a flag value) in a family, or undefined when the GT does not declare it. */
export function idFromText(text: string, space: IdSpace): number | undefined {
  if (space.kind === 'string') {
    const r = space.strings.indexOf(text);
    return r < 0 ? undefined : r;
  }
  const v = Number(text);
  return text.trim() === '' || !Number.isFinite(v) ? undefined : v;
}

/** How an evaluator id is written in the GT (for messages and reports). */
export function idLabel(id: number, space: IdSpace): string {
  return space.kind === 'string' ? (space.strings[id] ?? String(id)) : String(id);
}

/** The ids of a GT written with numbers. */
export const NUMBER_SPACE: IdSpace = { kind: 'number', strings: [] };
