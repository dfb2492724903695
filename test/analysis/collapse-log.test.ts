import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildReport, type SiteCollapse } from '../../src/analysis/collapse.js';
import { appendCollapseLog, latestAttempt, readCollapseLog } from '../../src/analysis/collapse-log.js';
import { InputError } from '../../src/util/errors.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'psdet-collapse-log-'));
  dirs.push(d);
  return d;
}

function report(dead: number) {
  const s: SiteCollapse = {
    name: 'res3.0.relu1', stage: 'res3', channels: 8, images: 2, dead, deadChannels: [], max: [], normFed: true,
    paramCollapsed: 1, normNonPositive: dead, alpha: 0.1,
  };
  return buildReport([s], { deadThreshold: 0, gammaThreshold: 0.02 });
}

describe('collapse.jsonl', () => {
  it('appends one JSON object per line with the iteration, per-stage figures and thresholds', () => {
    const path = join(tempDir(), 'run', 'collapse.jsonl');
    appendCollapseLog(path, 0, report(2));
    appendCollapseLog(path, 100, report(4));
    const entries = readCollapseLog(path);
    expect(entries.map((e) => e.iteration)).toEqual([0, 100]);
    // 4 dead of 8 channels = 0.5; 1 parameter-collapsed of 8 norm-fed = 0.125.
    expect(entries[1]!.stages[0]).toMatchObject({ stage: 'res3', channels: 8, dead: 4, deadRatio: 0.5, paramCollapsedRatio: 0.125 });
    expect(entries[1]!.thresholds).toEqual({ deadThreshold: 0, gammaThreshold: 0.02 });
    expect(entries[1]!.total.deadRatio).toBe(0.5);
  });

  it('treats a missing file as empty and skips a torn last line', () => {
    const dir = tempDir();
    expect(readCollapseLog(join(dir, 'none.jsonl'))).toEqual([]);
    const path = join(dir, 'collapse.jsonl');
    appendCollapseLog(path, 5, report(1));
    appendFileSync(path, '{"iteration": 10, "ima');
    expect(readCollapseLog(path).map((e) => e.iteration)).toEqual([5]);
  });

  it('names the file, line and field of a bad entry', () => {
    const path = join(tempDir(), 'collapse.jsonl');
    writeFileSync(path, 'nonsense\n{}\n');
    expect(() => readCollapseLog(path)).toThrow(InputError);
    expect(() => readCollapseLog(path)).toThrow(`${path}: index 1: not valid JSON`);
    writeFileSync(path, `${JSON.stringify({ iteration: -1 })}\n`);
    expect(() => readCollapseLog(path)).toThrow(`${path}: index 1: field "iteration": must be a non-negative integer`);
  });
});

describe('recordCollapse', () => {
  it('measures and appends one line to <workDir>/collapse.jsonl', async () => {
    const { recordCollapse } = await import('../../src/analysis/measure.js');
    const tf = await import('@tensorflow/tfjs-core');
    const dir = tempDir();
    // One site, channel maxima 1 and -1: channel 1 dead, 1 of 2 = 0.5.
    const model = {
      forward(images: import('@tensorflow/tfjs-core').Tensor4D, opts: { training: boolean; probe?: import('../../src/analysis/probe.js').ActivationProbe }) {
        opts.probe?.observe({ stage: 'fpn', name: 'fpn.p6' }, images);
      },
    };
    await recordCollapse(model, [tf.tensor4d([1, -1], [1, 1, 1, 2])], { workDir: dir, iteration: 42, thresholds: { gammaThreshold: 0.5 } });
    const [entry] = readCollapseLog(join(dir, 'collapse.jsonl'));
    expect(entry).toMatchObject({ iteration: 42, images: 1, thresholds: { deadThreshold: 0, gammaThreshold: 0.5 } });
    expect(entry!.stages).toEqual([expect.objectContaining({ stage: 'fpn', channels: 2, dead: 1, deadRatio: 0.5 })]);
  });
});

describe('latestAttempt', () => {
  it('keeps the entries of the latest attempt when a run restarted into the same file', () => {
    const path = join(tempDir(), 'collapse.jsonl');
    // Attempt 1 logged 20, 40, 60; attempt 2 restarted from 40 (its checkpoint) and logged 60, 80; then a fresh
    // restart logged 20: only that last one survives.
    for (const it of [20, 40, 60]) appendCollapseLog(path, it, report(1));
    expect(latestAttempt(readCollapseLog(path)).map((e) => e.iteration)).toEqual([20, 40, 60]);
    for (const it of [60, 80]) appendCollapseLog(path, it, report(2));
    expect(latestAttempt(readCollapseLog(path)).map((e) => [e.iteration, e.stages[0]!.dead])).toEqual([[20, 1], [40, 1], [60, 2], [80, 2]]);
    appendCollapseLog(path, 20, report(3));
    expect(latestAttempt(readCollapseLog(path)).map((e) => e.iteration)).toEqual([20]);
  });
});
