import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import { configWarnings, parseAssignments, resolveConfig } from '../../src/config/resolve.js';

function writeTemp(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'psdet-config-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('resolveConfig', () => {
  it('applies defaults <- file <- flags in that order', () => {
    const path = writeTemp('tiny.json', JSON.stringify({ model: { depth: 18, norm: 'bn' }, solver: { baseLr: 0.02 } }));
    const config = resolveConfig(path, [{ model: { norm: 'psbn' } }, parseAssignments(['solver.baseLr=0.5'])]);
    expect(config.name).toBe('tiny');
    expect(config.model.depth).toBe(18); // file over default
    expect(config.model.norm).toBe('psbn'); // flag over file
    expect(config.solver.baseLr).toBe(0.5); // later flag over file
    expect(config.solver.momentum).toBe(defaultConfig().solver.momentum); // untouched default
  });

  it('names the file and field of an unknown key', () => {
    const path = writeTemp('bad.json', JSON.stringify({ model: { detph: 18 } }));
    expect(() => resolveConfig(path)).toThrow(`${path}: unknown field "model.detph"`);
  });

  it('rejects a wrong type or an unknown enum value', () => {
    const path = writeTemp('bad.json', JSON.stringify({ solver: { baseLr: '0.1' } }));
    expect(() => resolveConfig(path)).toThrow('field "solver.baseLr" must be a finite number');
    expect(() => resolveConfig(null, [{ model: { norm: 'gn' } }])).toThrow('field "model.norm" must be one of bn, frozen_bn, psbn');
  });

  it('reports malformed JSON with the file name', () => {
    const path = writeTemp('broken.json', '{"model": ');
    expect(() => resolveConfig(path)).toThrow(`${path}: malformed JSON`);
  });
});

describe('range validation', () => {
  it('rejects out-of-range values, naming the source and the field', () => {
    const cases: [object, string][] = [
      [{ solver: { baseLr: -1 } }, 'field "solver.baseLr" must be positive, got -1'],
      [{ solver: { baseLr: 0 } }, 'field "solver.baseLr" must be positive, got 0'],
      [{ input: { flipProbability: 2 } }, 'field "input.flipProbability" must be in [0, 1], got 2'],
      [{ solver: { warmupFactor: -1 } }, 'field "solver.warmupFactor" must be in [0, 1], got -1'],
      [{ data: { workers: -1 } }, 'field "data.workers" must be an integer >= 0 (0 = decode on the main thread), got -1'],
      [{ data: { prefetch: 1.5 } }, 'field "data.prefetch" must be an integer >= 0, got 1.5'],
      [{ data: { maxDecodePixels: 0 } }, 'field "data.maxDecodePixels" must be a positive integer, got 0'],
      [{ data: { maxImagePixels: -1 } }, 'field "data.maxImagePixels" must be a positive integer, got -1'],
      [{ solver: { momentum: 1 } }, 'field "solver.momentum" must be in [0, 1), got 1'],
      [{ solver: { weightDecay: -1e-4 } }, 'field "solver.weightDecay" must be at least 0, got -0.0001'],
      [{ solver: { steps: [800, 600] } }, 'field "solver.steps" must be increasing positive integers, got [800,600]'],
      [{ solver: { maxIter: 10.5 } }, 'field "solver.maxIter" must be an integer >= 1, got 10.5'],
      [{ solver: { warmupIters: -5 } }, 'field "solver.warmupIters" must be an integer >= 0, got -5'],
      [{ solver: { gamma: 0 } }, 'field "solver.gamma" must be positive, got 0'],
      [{ solver: { adamBetas: [0.9, 1] } }, 'field "solver.adamBetas" must be two numbers in [0, 1), got [0.9,1]'],
      [{ input: { pixelStd: [0.2, 0, 0.2] } }, 'field "input.pixelStd" must be three positive numbers (R, G, B), got [0.2,0,0.2]'],
      [{ input: { trainMinSizes: [640, -1] } }, 'field "input.trainMinSizes" must be positive integers, got [640,-1]'],
      [{ train: { logPeriod: 0 } }, 'field "train.logPeriod" must be an integer >= 1, got 0'],
      [{ train: { keepCheckpoints: 0 } }, 'field "train.keepCheckpoints" must be an integer >= 1, got 0'],
      [{ train: { explosionFactor: 0.5 } }, 'field "train.explosionFactor" must be 0 (off) or above 1, got 0.5'],
      [{ model: { priorProbability: 1 } }, 'field "model.priorProbability" must be in (0, 1), got 1'],
      [{ model: { nmsThreshold: 1.5 } }, 'field "model.nmsThreshold" must be in [0, 1], got 1.5'],
      [{ model: { fpnChannels: 0 } }, 'field "model.fpnChannels" must be a positive integer, got 0'],
      [{ collapse: { probeImages: 0 } }, 'field "collapse.probeImages" must be a positive integer, got 0'],
      [{ model: { norm: 'frozen_bn', normAffineTrainable: true } }, 'field "model.normAffineTrainable" must be false with model.norm "frozen_bn" (FrozenBN never trains gamma/beta), got true'],
      [{ model: { norm: 'frozen_bn', normEval: false } }, 'field "model.normEval" must be true with model.norm "frozen_bn" (FrozenBN never uses batch statistics), got false'],
    ];
    for (const [overrides, message] of cases) expect(() => resolveConfig(null, [overrides])).toThrow(`command line: ${message}`);
    const path = writeTemp('lr.json', JSON.stringify({ solver: { baseLr: -0.01 } }));
    expect(() => resolveConfig(path)).toThrow(`${path}: field "solver.baseLr" must be positive, got -0.01`);
    // the edges of each range are accepted
    expect(() =>
      resolveConfig(null, [{ input: { flipProbability: 1 }, solver: { warmupFactor: 0, warmupIters: 0, momentum: 0 }, data: { workers: 0, prefetch: 0 }, train: { explosionFactor: 0 }, model: { focalAlpha: -1 } }]),
    ).not.toThrow();
  });

  it('warns when the warm-up outlasts the run or a step is never reached', () => {
    expect(configWarnings(resolveConfig(null))).toEqual([]);
    expect(configWarnings(resolveConfig(null, [{ solver: { maxIter: 300, warmupIters: 500, steps: [200, 300] } }]))).toEqual([
      'solver.warmupIters 500 exceeds solver.maxIter 300: the whole run stays in the linear warm-up',
      'solver.steps [300] at or past solver.maxIter 300: the learning rate never drops there',
    ]);
    expect(configWarnings(resolveConfig(null, [{ solver: { maxIter: 300, warmupIters: 0, schedule: 'cosine' } }]))).toEqual([]);
  });
});

describe('parseAssignments', () => {
  it('reads JSON values and falls back to strings', () => {
    expect(parseAssignments(['a.b=3', 'a.c=[1,2]', 'd=true', 'e=hello', 'f=null'])).toEqual({
      a: { b: 3, c: [1, 2] },
      d: true,
      e: 'hello',
      f: null,
    });
  });
});
