import { describe, expect, it } from 'vitest';
import { ExplosionGuard, median, WINDOW } from '../../src/train/explosion-guard.js';

describe('explosion guard', () => {
  it('median of odd and even lists', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('is armed after the warm-up and flags a value above factor x the running median, loss first', () => {
    const guard = new ExplosionGuard(100, 3);
    // warm-up: three values are only recorded, however large the next ones are relative to them
    expect(guard.check(1, 2)).toBeNull();
    expect(guard.check(1000, 2)).toBeNull(); // 1000 x the median of [1], but not armed yet
    expect(guard.check(2, 4)).toBeNull();
    // history loss [1, 1000, 2] -> median 2; grad norm [2, 2, 4] -> median 2
    expect(guard.check(200, 200)).toBeNull(); // exactly 100x is not above it
    // history loss [1, 1000, 2, 200] -> median 101; grad norm [2, 2, 4, 200] -> median 3
    expect(guard.check(10101, 301)).toEqual({ quantity: 'loss', value: 10101, median: 101 });
    expect(guard.check(50, 301)).toEqual({ quantity: 'grad_norm', value: 301, median: 3 });
    // flagged values never enter the history
    expect(guard.state()).toEqual({ seen: 4, loss: [1, 1000, 2, 200], gradNorm: [2, 2, 4, 200] });
  });

  it('factor 0 is off; a zero median cannot flag', () => {
    const off = new ExplosionGuard(0, 1);
    off.check(1, 1);
    expect(off.check(1e30, 1e30)).toBeNull();
    const zeros = new ExplosionGuard(10, 1);
    zeros.check(1, 0);
    expect(zeros.check(5, 1e9)).toBeNull(); // grad-norm median 0 (everything frozen): nothing to compare with
  });

  it(`keeps the last ${WINDOW} values, and its state survives a save and restore`, () => {
    const guard = new ExplosionGuard(100, 1);
    for (let i = 1; i <= WINDOW + 20; i++) expect(guard.check(i, 1)).toBeNull();
    const state = guard.state();
    expect(state.seen).toBe(WINDOW + 20);
    expect(state.loss).toEqual(Array.from({ length: WINDOW }, (_, i) => i + 21));
    const copy = new ExplosionGuard(100, 1);
    copy.restore(JSON.parse(JSON.stringify(state)));
    expect(copy.state()).toEqual(state);
    // median of 21..120 is 70.5: 7051 is above 100x (and stays out of the history), 7050 is not
    expect(copy.check(7051, 1)?.quantity).toBe('loss');
    expect(copy.check(7050, 1)).toBeNull();
    // a checkpoint without a (valid) history starts empty
    copy.restore(undefined);
    expect(copy.state()).toEqual({ seen: 0, loss: [], gradNorm: [] });
    copy.restore({ seen: 1, loss: [1, 2], gradNorm: [1] });
    expect(copy.state()).toEqual({ seen: 0, loss: [], gradNorm: [] });
  });
});
