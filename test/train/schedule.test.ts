import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import { learningRate, scaledBaseLr, warmupMultiplier, type ScheduleSettings } from '../../src/train/schedule.js';

function solver(overrides: Partial<ScheduleSettings>): ScheduleSettings {
  return { ...defaultConfig().solver, ...overrides };
}

describe('learningRate', () => {
  // The 1x recipe: base 0.01, warm-up 500 iterations from 0.001, steps 60000 / 80000, gamma 0.1.
  const oneX = solver({});

  it('warms up linearly from warmupFactor', () => {
    // iter 0: 0.01 * 0.001 = 1e-5
    expect(learningRate(0, oneX)).toBeCloseTo(1e-5, 12);
    // iter 250: alpha = 0.5, factor = 0.001 * 0.5 + 0.5 = 0.5005 -> 0.005005
    expect(learningRate(250, oneX)).toBeCloseTo(0.005005, 12);
    // iter 499: alpha = 0.998, factor = 0.001 * 0.002 + 0.998 = 0.998002 -> 0.00998002
    expect(learningRate(499, oneX)).toBeCloseTo(0.00998002, 12);
    expect(learningRate(500, oneX)).toBe(0.01);
  });

  it('drops by gamma at each step, the step iteration included', () => {
    expect(learningRate(59999, oneX)).toBe(0.01);
    expect(learningRate(60000, oneX)).toBeCloseTo(0.001, 15); // 0.01 * 0.1
    expect(learningRate(79999, oneX)).toBeCloseTo(0.001, 15);
    expect(learningRate(80000, oneX)).toBeCloseTo(0.0001, 15); // 0.01 * 0.1^2
    expect(learningRate(89999, oneX)).toBeCloseTo(0.0001, 15);
  });

  it('follows a half cosine to zero at maxIter', () => {
    const cos = solver({ schedule: 'cosine', maxIter: 1000, warmupIters: 0 });
    expect(learningRate(0, cos)).toBe(0.01);
    // iter 250: 0.01 * 0.5 * (1 + cos(pi / 4)) = 0.005 * 1.7071067811865475 = 0.008535533905932738
    expect(learningRate(250, cos)).toBeCloseTo(0.008535533905932738, 15);
    expect(learningRate(500, cos)).toBeCloseTo(0.005, 15); // cos(pi / 2) = 0
    expect(learningRate(1000, cos)).toBeCloseTo(0, 15);
  });

  it('combines warm-up with cosine and leaves constant flat', () => {
    const cos = solver({ schedule: 'cosine', maxIter: 1000, warmupIters: 100, warmupFactor: 0.1 });
    // iter 50: warm-up 0.1 * 0.5 + 0.5 = 0.55; cosine 0.5 * (1 + cos(pi * 0.05)) = 0.9938441702975689
    expect(learningRate(50, cos)).toBeCloseTo(0.01 * 0.55 * 0.9938441702975689, 15);
    const flat = solver({ schedule: 'constant', warmupIters: 0 });
    expect(learningRate(0, flat)).toBe(0.01);
    expect(learningRate(85000, flat)).toBe(0.01);
  });

  it('scales the base rate with the batch size only when asked', () => {
    expect(scaledBaseLr(solver({ batchSize: 4 }))).toBe(0.01);
    // linear scaling rule: 0.01 * 4 / 16 = 0.0025
    expect(scaledBaseLr(solver({ batchSize: 4, scaleLrWithBatch: true }))).toBe(0.0025);
    expect(learningRate(1000, solver({ batchSize: 32, scaleLrWithBatch: true }))).toBe(0.02);
  });

  it('warm-up multiplier is 1 with no warm-up', () => {
    expect(warmupMultiplier(0, 0, 0.001)).toBe(1);
  });
});
