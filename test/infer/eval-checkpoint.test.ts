import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COCO_MINI, cocoMiniSkip, runCli } from '../helpers.js';
import { writeTinyCheckpoint } from './tiny-checkpoint.js';

function evalDet(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return runCli('eval-det.ts', args);
}

const COCO_MINI_SKIP = cocoMiniSkip();

describe.skipIf(COCO_MINI === null)(`eval-det --checkpoint on coco-mini ${COCO_MINI_SKIP}`, () => {
  const work = mkdtempSync(join(tmpdir(), 'psdet-evalckpt-'));

  beforeAll(async () => {
    await writeTinyCheckpoint(work, (cfg) => {
      cfg.data.workers = 0;
      cfg.collapse.probeImages = 1;
    });
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('runs the model over a split, writes results the evaluator accepts and prints stats and tables', () => {
    const r = evalDet('--checkpoint', work, '--data', COCO_MINI!, '--split', 'val2017', '--limit', '3', '--batch', '2', '--backend', 'cpu');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const results = join(work, 'eval', 'results_val2017.json');
    expect(existsSync(results)).toBe(true);
    const dets = JSON.parse(readFileSync(results, 'utf8')) as { image_id: number; category_id: number; bbox: number[]; score: number }[];
    // The first three val images by id.
    const gt = JSON.parse(readFileSync(join(COCO_MINI!, 'annotations', 'instances_val2017.json'), 'utf8')) as { images: { id: number }[] };
    const firstIds = gt.images.map((i) => i.id).sort((a, b) => a - b).slice(0, 3);
    for (const d of dets) expect(firstIds).toContain(d.image_id);
    expect(r.stdout).toMatch(/on 3 images/);
    expect(r.stdout).toMatch(/Average Precision {2}\(AP\) @\[ IoU=0\.50:0\.95 \| area= {3}all \| maxDets=100 \] = /);
    expect(r.stdout).toContain('Per category');
    expect(r.stdout).toContain('person');
    expect(r.stdout).toContain('collapsed filters per stage');
    expect(r.stdout).toMatch(/res2/);

    // The results file also goes through the --gt/--dt mode (the evaluator's own JSON checks).
    const again = evalDet('--gt', join(COCO_MINI!, 'annotations', 'instances_val2017.json'), '--dt', results);
    expect(again.status).toBe(0);
  });

  it('names a missing split in one line, exit 2', () => {
    const r = evalDet('--checkpoint', work, '--data', COCO_MINI!, '--split', 'test2099', '--backend', 'cpu');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`eval-det: ${join(COCO_MINI!, 'annotations', 'instances_test2099.json')}: annotation file not found (--data ${COCO_MINI}, --split test2099)\n`);
  });
});
