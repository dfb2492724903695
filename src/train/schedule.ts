import type { SolverConfig } from '../config/types.js';

/** The schedule-relevant part of the solver settings. */
export type ScheduleSettings = Pick<
  SolverConfig,
  | 'baseLr'
  | 'batchSize'
  | 'scaleLrWithBatch'
  | 'referenceBatchSize'
  | 'maxIter'
  | 'schedule'
  | 'steps'
  | 'gamma'
  | 'warmupIters'
  | 'warmupFactor'
>;

/**
 * The base rate a run starts from: `baseLr`, times `batchSize / referenceBatchSize` when the linear scaling rule is
 * asked for (`scaleLrWithBatch`). Example: baseLr 0.01 at reference 16 with batch 4 -> 0.0025.
 */
export function scaledBaseLr(solver: ScheduleSettings): number {
  return solver.scaleLrWithBatch ? (solver.baseLr * solver.batchSize) / solver.referenceBatchSize : solver.baseLr;
}

/**
 * Warm-up multiplier at 0-based iteration `iter`: linear from `warmupFactor` at iteration 0 to 1 at
 * `warmupIters` (detectron2's linear warm-up: factor * (1 - a) + a with a = iter / warmupIters), 1 afterwards.
 */
export function warmupMultiplier(iter: number, warmupIters: number, warmupFactor: number): number {
  if (iter >= warmupIters) return 1;
  const alpha = iter / warmupIters;
  return warmupFactor * (1 - alpha) + alpha;
}

/**
 * Learning rate used by the optimizer step of 0-based iteration `iter` (pure; the schedule needs no state, so
 * resuming at any iteration gives the same rate).
 * - multistep: base * gamma^(number of steps <= iter), so at iter == step the rate has already dropped;
 * - cosine: base * 0.5 * (1 + cos(pi * iter / maxIter)), reaching 0 at maxIter;
 * - constant: base.
 * The warm-up multiplier applies on top of each.
 */
export function learningRate(iter: number, solver: ScheduleSettings): number {
  const base = scaledBaseLr(solver);
  let lr: number;
  switch (solver.schedule) {
    case 'multistep': {
      const passed = solver.steps.filter((step) => step <= iter).length;
      lr = base * solver.gamma ** passed;
      break;
    }
    case 'cosine':
      lr = base * 0.5 * (1 + Math.cos((Math.PI * Math.min(iter, solver.maxIter)) / solver.maxIter));
      break;
    case 'constant':
      lr = base;
      break;
  }
  return lr * warmupMultiplier(iter, solver.warmupIters, solver.warmupFactor);
}
