import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import type { CurveSet } from '../../src/report/curves.js';
import { runTraining } from '../../src/train/job.js';
import { ROOT } from '../helpers.js';

describe('a training run writes its curves and report.html', () => {
  it('refreshes them at each evaluation and at the end, with the collapse curve starting at iteration 0', async () => {
    const workDir = mkdtempSync(join(tmpdir(), 'psdet-job-report-'));
    // the tiny shapes config made smaller still: 64 px, width 1/8, batch 2, two val images; 4 iterations,
    // logged every iteration, evaluated and probed every 2
    const config = resolveConfig(join(ROOT, 'models', 'retinanet_r18_tiny_shapes.json'), [
      {
        workDir,
        backend: 'cpu',
        model: { widthMultiplier: 0.125, fpnChannels: 16, headChannels: 16, headDepth: 1, norm: 'psbn' },
        input: { trainMinSizes: [64], testMinSize: 64, maxSize: 64 },
        data: { valLimit: 2 },
        collapse: { probeImages: 1 },
        solver: { batchSize: 2, maxIter: 4, warmupIters: 2, steps: [3] },
        train: { logPeriod: 1, checkpointPeriod: 100, evalPeriod: 2, collapsePeriod: 2 },
      },
    ]);
    const tasks: string[] = [];
    const result = await runTraining(config, { reporter: { info: () => undefined, task: (label, done, total) => tasks.push(`${label} ${done}/${total}`) } });
    expect(result).toMatchObject({ iteration: 4, stopped: false });
    const sets = JSON.parse(readFileSync(join(workDir, 'curves', 'curves.json'), 'utf8')) as CurveSet[];
    const points = (file: string, name: string): number[] =>
      sets.find((s) => s.file === file)!.series.find((s) => s.name === name && s.variant !== 'smoothed')!.points.map(([it]) => it);
    expect(points('loss', 'loss')).toEqual([1, 2, 3, 4]);
    expect(points('lr', 'lr')).toEqual([1, 2, 3, 4]);
    expect(points('ap', 'AP')).toEqual([2, 4]);
    const perClass = readFileSync(join(workDir, 'per_class.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { iteration: number; ap: Record<string, number> });
    expect(perClass.map((r) => r.iteration)).toEqual([2, 4]);
    expect(Object.keys(perClass[0]!.ap).sort()).toEqual(['circle', 'square', 'triangle']);
    const collapse = sets.find((s) => s.file === 'collapse')!.panels!.points;
    expect([...new Set(collapse.map((p) => p.iteration))]).toEqual([0, 2, 4]);
    expect(new Set(collapse.map((p) => p.row))).toEqual(new Set(['norm-fed sites', 'norm-free sites']));
    const html = readFileSync(join(workDir, 'report.html'), 'utf8');
    expect(html).toContain('COCO evaluation at iteration 4');
    expect(html).toContain('Collapsed filters per stage at iteration 4');
    expect(html.match(/<figure>/g)).toHaveLength(2);
    expect(html).not.toMatch(/https?:/);
    // evaluation: 2 val images, in batches; collapse probe: 1 image; each ends at its total
    expect(tasks).toContain('evaluation 2/2');
    expect(tasks).toContain('collapse probe 1/1');
  }, 300_000);
});
