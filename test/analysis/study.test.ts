import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { buildReport, type SiteCollapse } from '../../src/analysis/collapse.js';
import { appendCollapseLog } from '../../src/analysis/collapse-log.js';
import { backboneDeadRatio, expandGrid, runGrid, runRevival, writeGridReport, writeRevivalReport, type RunTraining } from '../../src/analysis/study.js';
import { collapseLogEntry } from '../../src/analysis/collapse-log.js';
import { defaultConfig } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/types.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'psdet-study-'));
  dirs.push(d);
  return d;
}

const THRESHOLDS = { deadThreshold: 0, gammaThreshold: 0.01 };

/** A report with `deadRes2` of 10 res2 channels and `deadRes3` of 10 res3 channels dead (the first ones). */
function report(deadRes2: number, deadRes3: number) {
  const site = (name: string, stage: 'res2' | 'res3', dead: number): SiteCollapse => ({
    name, stage, channels: 10, images: 2, dead, deadChannels: Array.from({ length: dead }, (_, i) => i), max: [], normFed: true,
    paramCollapsed: 0, normNonPositive: dead, alpha: 0,
  });
  return buildReport([site('res2.a', 'res2', deadRes2), site('res3.a', 'res3', deadRes3)], THRESHOLDS);
}

/** A fake trainer: dead res2 channels at iteration i = lr x 100 x i / 10, twice for Adam, none for psBN. */
function fakeTrainer(calls: string[]): RunTraining {
  return async (config: Config) => {
    calls.push(config.workDir);
    for (const iteration of [0, 5, 10]) {
      const factor = config.model.norm === 'psbn' ? 0 : config.solver.optimizer === 'adam' ? 2 : 1;
      appendCollapseLog(join(config.workDir, 'collapse.jsonl'), iteration, report(Math.round(config.solver.baseLr * 100 * factor * iteration / 10), 0));
    }
    return { mAP: config.model.norm === 'psbn' ? 0.2 : 0.1 };
  };
}

describe('expandGrid', () => {
  it('makes one run per cell with its own work dir and the cell settings', () => {
    const base = defaultConfig();
    base.solver.weightDecay = 5e-4;
    const runs = expandGrid(base, { norms: ['bn', 'psbn'], lrs: [0.01, 0.04], optimizers: ['sgd', 'adam'], frozenStages: [0] }, '/s');
    expect(runs).toHaveLength(8);
    expect(runs[0]!.id).toBe('bn_sgd_lr0.01_frozen0');
    const psbnAdam = runs.find((r) => r.id === 'psbn_adam_lr0.04_frozen0')!;
    expect(psbnAdam.config.workDir).toBe('/s/runs/psbn_adam_lr0.04_frozen0');
    expect(psbnAdam.config.model).toMatchObject({ norm: 'psbn', normAffineTrainable: true, normEval: false, frozenStages: 0 });
    expect(psbnAdam.config.solver).toMatchObject({ optimizer: 'adam', baseLr: 0.04, weightDecayNorm: 5e-4 });
    // The base is not modified.
    expect(base.model.norm).toBe('frozen_bn');
    expect(() => expandGrid(base, { norms: [], lrs: [1], optimizers: ['sgd'], frozenStages: [0] }, '/s')).toThrow(/norms is empty/);
  });
});

describe('runGrid and writeGridReport', () => {
  it('runs every cell once, resumes by skipping finished runs, and writes a report with plots', async () => {
    const dir = tempDir();
    const runs = expandGrid(defaultConfig(), { norms: ['bn', 'psbn'], lrs: [0.01, 0.05], optimizers: ['sgd', 'adam'], frozenStages: [0] }, dir);
    const calls: string[] = [];
    const first = await runGrid(runs.slice(0, 3), fakeTrainer(calls));
    expect(calls).toHaveLength(3);
    const results = await runGrid(runs, fakeTrainer(calls));
    // Only the 5 unfinished runs trained the second time.
    expect(calls).toHaveLength(8);
    expect(results.slice(0, 3)).toEqual(first);
    // bn adam lr 0.05: 0.05 x 100 x 2 = 10 of 10 res2 channels dead at iteration 10 -> res2 100%, total 10 / 20 = 50%.
    const worst = results.find((r) => r.id === 'bn_adam_lr0.05_frozen0')!;
    expect(worst.finalCollapse!.iteration).toBe(10);
    expect(worst.finalCollapse!.total.deadRatio).toBe(0.5);
    expect(worst.mAP).toBe(0.1);

    const path = await writeGridReport(dir, runs, results, { title: 'Collapse study', setup: ['tiny model'] });
    const md = readFileSync(path, 'utf8');
    expect(md).toContain('# Collapse study');
    expect(md).toContain('Dead: ReLU input <= 0 at every position of every probe image; parameter view: |γ| < 0.01');
    // Final-figures row: bn sgd lr 0.01: 1 of 10 res2 dead (10.0%), 0 res3, total 1 / 20 = 5.0%; mAP 10.0.
    // The backbone column (stem..res5) equals the total here: res2 and res3 are the only stages.
    expect(md).toMatch(/\| bn_sgd_lr0\.01_frozen0 \| bn \| sgd \| 0\.01 \| 0 \| 10\.0 \| 10\.0% \| 0\.0% \| 5\.0% \| 5\.0% \|/);
    // Learning-rate comparison for bn, sgd: 5.0% at lr 0.01, 25.0% at lr 0.05.
    expect(md).toContain('| bn, sgd, frozen 0 | 5.0% / 5.0% (mAP 10.0) | 25.0% / 25.0% (mAP 10.0) |');
    // Adam against SGD for bn at lr 0.05: sgd 25.0%, adam 50.0%.
    expect(md).toContain('| bn, lr 0.05, frozen 0 | 25.0% / 25.0% (mAP 10.0) | 50.0% / 50.0% (mAP 10.0) |');
    // psBN against BN at sgd lr 0.01: bn 5.0%, psbn 0.0%.
    expect(md).toContain('| sgd, lr 0.01, frozen 0 | 5.0% / 5.0% (mAP 10.0) | 0.0% / 0.0% (mAP 20.0) |');
    for (const name of ['dead-total', 'dead-final-per-stage', 'dead-per-stage-bn_adam_lr0.05_frozen0']) {
      expect(existsSync(join(dir, 'plots', `${name}.svg`))).toBe(true);
      expect(md).toContain(`](plots/${name}.png)`);
    }
    // The PNG is the SVG at twice its size; every run's total is drawn, iteration 0 included (3 probes x 8 runs).
    const totalSvg = readFileSync(join(dir, 'plots', 'dead-total.svg'), 'utf8');
    const svgWidth = Number(/<svg[^>]* width="(\d+)"/.exec(totalSvg)![1]);
    expect((await sharp(join(dir, 'plots', 'dead-total.png')).metadata()).width).toBe(2 * svgWidth);
    expect(totalSvg.match(/aria-roledescription="point"/g)).toHaveLength(24);
    expect(totalSvg.match(/aria-label="iteration: 0;[^"]*" role="graphics-symbol" aria-roledescription="point"/g)).toHaveLength(8);
  });
});

describe('runRevival', () => {
  it('measures before and after fine-tuning per norm and counts revived channels, resumably', async () => {
    const dir = tempDir();
    const measured: string[] = [];
    const deps = {
      // The checkpoint has 6 res2 and 2 res3 channels dead; after psBN fine-tuning 1 and 0, after BN 6 and 3.
      measure: async (config: Config, checkpoint: string) => {
        measured.push(`${config.model.norm}:${checkpoint}`);
        if (checkpoint === 'ckpt') return report(6, 2);
        return config.model.norm === 'psbn' ? report(1, 0) : report(6, 3);
      },
      fineTune: async (config: Config) => ({ mAP: 0.05, checkpoint: join(config.workDir, 'last') }),
    };
    const results = await runRevival(defaultConfig(), { checkpoint: 'ckpt' }, dir, deps);
    expect(results.map((r) => r.norm)).toEqual(['psbn', 'bn']);
    // psBN: res2 dead 0..5 -> 0: 5 revived of 6; res3 dead 0, 1 -> none: 2 of 2; total 7 of 8.
    expect(results[0]!.rows.map((r) => [r.stage, r.revived, r.deadBefore])).toEqual([['res2', 5, 6], ['res3', 2, 2], ['total', 7, 8]]);
    // BN: nothing revived; res3 channel 2 newly dead.
    expect(results[1]!.rows.at(-1)).toMatchObject({ revived: 0, newlyDead: 1, deadAfter: 9 });
    expect(measured).toEqual(['psbn:ckpt', `psbn:${join(dir, 'revive', 'psbn', 'last')}`, 'bn:ckpt', `bn:${join(dir, 'revive', 'bn', 'last')}`]);
    const again = await runRevival(defaultConfig(), { checkpoint: 'ckpt' }, dir, deps);
    expect(measured).toHaveLength(4);
    expect(again[0]!.rows).toEqual(results[0]!.rows);
    const md = readFileSync(await writeRevivalReport(dir, results, { title: 'Revival', setup: [] }), 'utf8');
    expect(md).toContain('| res2 | 10 | 6 | 1 | 5 | 83.3% | 0 |');
    expect(md).toContain('](plots/revived-per-stage.png)');
  });
});

describe('backboneDeadRatio', () => {
  it('counts stem..res5 only, leaving out the norm-free FPN and head', () => {
    const site = (name: string, stage: SiteCollapse['stage'], dead: number): SiteCollapse => ({
      name, stage, channels: 10, images: 1, dead, deadChannels: [], max: [], normFed: false, paramCollapsed: 0, normNonPositive: 0, alpha: null,
    });
    // res2 5 of 10, res5 1 of 10, fpn 10 of 10, head-cls 10 of 10: backbone 6 / 20 = 0.3; total 26 / 40 = 0.65.
    const entry = collapseLogEntry(7, buildReport([site('a', 'res2', 5), site('b', 'res5', 1), site('c', 'fpn', 10), site('d', 'head-cls', 10)], THRESHOLDS));
    expect(backboneDeadRatio(entry)).toBeCloseTo(0.3, 12);
    expect(entry.total.deadRatio).toBeCloseTo(0.65, 12);
    expect(backboneDeadRatio(null)).toBeNull();
  });
});
