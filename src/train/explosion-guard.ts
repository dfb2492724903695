/**
 * The explosion guard: a loss or gradient norm that is finite but far above its recent values means the run is
 * diverging, and every update from here on would wreck the weights (and, checkpoint by checkpoint, replace the good
 * ones kept on disk). The guard keeps the last `WINDOW` healthy values of both and flags a step whose value
 * exceeds `factor` times their median, once `warmupIters` values have been seen. Its history is saved in
 * checkpoints, so a resumed run is guarded exactly as the uninterrupted one.
 */

/** Healthy iterations the running median is taken over. */
export const WINDOW = 100;

export type GuardedQuantity = 'loss' | 'grad_norm';

export interface Explosion {
  quantity: GuardedQuantity;
  value: number;
  median: number;
}

export interface GuardState {
  /** Healthy iterations seen in all (for the warm-up). */
  seen: number;
  loss: number[];
  gradNorm: number[];
}

/** The median of a non-empty list (the mean of the two middle values for an even length). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export class ExplosionGuard {
  private seen = 0;
  private loss: number[] = [];
  private gradNorm: number[] = [];

  /** `factor` 0 turns the guard off. */
  constructor(
    readonly factor: number,
    readonly warmupIters: number,
  ) {}

  /**
   * The first guarded quantity of this step that exploded (the loss is checked first), else null, in which case
   * the values join the history.
   */
  check(loss: number, gradNorm: number): Explosion | null {
    if (this.factor > 0 && this.seen >= this.warmupIters && this.loss.length > 0) {
      for (const [quantity, value, history] of [
        ['loss', loss, this.loss],
        ['grad_norm', gradNorm, this.gradNorm],
      ] as const) {
        const m = median(history);
        if (m > 0 && value > this.factor * m) return { quantity, value, median: m };
      }
    }
    this.seen += 1;
    this.loss.push(loss);
    this.gradNorm.push(gradNorm);
    if (this.loss.length > WINDOW) this.loss.shift();
    if (this.gradNorm.length > WINDOW) this.gradNorm.shift();
    return null;
  }

  state(): GuardState {
    return { seen: this.seen, loss: [...this.loss], gradNorm: [...this.gradNorm] };
  }

  /** Restores a saved history; anything malformed (an older checkpoint) starts the history empty. */
  restore(state: unknown): void {
    const s = state as Partial<GuardState> | null | undefined;
    const ok = (xs: unknown): xs is number[] => Array.isArray(xs) && xs.every((x) => typeof x === 'number' && Number.isFinite(x));
    const valid = ok(s?.loss) && ok(s?.gradNorm) && s.loss.length === s.gradNorm.length && Number.isInteger(s.seen);
    this.seen = valid ? s.seen! : 0;
    this.loss = valid ? s.loss!.slice(-WINDOW) : [];
    this.gradNorm = valid ? s.gradNorm!.slice(-WINDOW) : [];
  }
}
