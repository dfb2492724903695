import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import type { Config } from '../../src/config/types.js';
import { readCategoryList } from '../../src/data/categories.js';
import { runTraining } from '../../src/train/job.js';
import { ROOT } from '../helpers.js';

/**
 * The tiny shapes config (models/retinanet_r18_tiny_shapes.json: RetinaNet R18, AdamW, random flips) made smaller
 * still: 64 px, width 1/8, batch 2, one val image; the real loader with 2 decoder threads and 2 batches prefetched.
 */
function tinyConfig(workDir: string, maxIter: number): Config {
  return resolveConfig(join(ROOT, 'models', 'retinanet_r18_tiny_shapes.json'), [
    {
      workDir,
      backend: 'cpu',
      model: { widthMultiplier: 0.125, fpnChannels: 16, headChannels: 16, headDepth: 1, norm: 'psbn' },
      input: { trainMinSizes: [64], testMinSize: 64, maxSize: 64 },
      data: { valLimit: 1, workers: 2, prefetch: 2 },
      collapse: { probeImages: 1 },
      solver: { batchSize: 2, maxIter, warmupIters: 2, steps: [3], baseLr: 0.02 },
      train: { logPeriod: 1, checkpointPeriod: 100, evalPeriod: 0, collapsePeriod: 0 },
    },
  ]);
}

/** The deterministic part of each train record of metrics.jsonl: iteration, lr, every loss term, grad norm. */
function loggedLosses(workDir: string): { iteration: number; lr: number; losses: Record<string, number>; gradNorm: number }[] {
  return readFileSync(join(workDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { type: string; iteration: number; lr: number; losses: Record<string, number>; gradNorm: number })
    .filter((r) => r.type === 'train')
    .map(({ iteration, lr, losses, gradNorm }) => ({ iteration, lr, losses, gradNorm }));
}

describe('runTraining on the shapes set', () => {
  it('resumes exactly: 5 iterations in one go = 2, stop, resume, 3 more (weights, optimizer, logged losses, eval)', async () => {
    const straightDir = mkdtempSync(join(tmpdir(), 'psdet-job-'));
    const straight = await runTraining(tinyConfig(straightDir, 5));
    expect(straight).toMatchObject({ iteration: 5, stopped: false });
    expect(straight.collapse?.stages.map((s) => s.stage)).toContain('res5');
    // the class list beside the run, for infer-det / export-det
    expect(readCategoryList(straightDir)).toEqual({ ids: [1, 2, 3], names: ['circle', 'square', 'triangle'] });

    // Stopped after iteration 2, while the loader has batches 3 and 4 decoded or in flight on its threads.
    const dir = mkdtempSync(join(tmpdir(), 'psdet-job-'));
    let trainer: { requestStop(): void } | null = null;
    const stopped = await runTraining(tinyConfig(dir, 5), {
      reporter: {
        info: () => undefined,
        trainerReady: (t) => (trainer = t),
        progress: (done) => done === 2 && trainer?.requestStop(),
      },
    });
    expect(stopped).toMatchObject({ iteration: 2, stopped: true });
    const before = tf.memory().numTensors;
    const log: string[] = [];
    const resumed = await runTraining(tinyConfig(dir, 5), { resume: 'auto', reporter: { info: (l) => log.push(l) } });
    expect(log).toContain(`resumed from ${join(dir, 'checkpoints', 'model_0000002')} at iteration 2`);
    expect(resumed).toMatchObject({ iteration: 5, stopped: false });
    expect(tf.memory().numTensors).toBe(before); // the job frees its model, optimizer and loaders

    const weights = (d: string): Buffer => readFileSync(join(d, 'checkpoints', 'model_0000005', 'model.safetensors'));
    const moments = (d: string): Buffer => readFileSync(join(d, 'checkpoints', 'model_0000005', 'optimizer.safetensors'));
    expect(weights(dir).equals(weights(straightDir))).toBe(true);
    expect(moments(dir).equals(moments(straightDir))).toBe(true);
    const losses = loggedLosses(straightDir);
    expect(losses.map((r) => r.iteration)).toEqual([1, 2, 3, 4, 5]);
    expect(loggedLosses(dir)).toEqual(losses);
    expect(resumed.stats).toEqual(straight.stats);
  });
});
