import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import { buildRetinaNet } from '../../src/model/build.js';
import { moduleTensors } from '../../src/train/checkpoint.js';
import { encodeTensors } from '../../src/train/tensor-file.js';
import { Rng } from '../../src/util/rng.js';
import { COCO_MINI, COCO_MINI_SKIP, ROOT } from '../helpers.js';

function evalDet(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/eval-det.ts'), ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 180_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(COCO_MINI === null)(`eval-det --checkpoint on coco-mini ${COCO_MINI_SKIP}`, () => {
  const work = mkdtempSync(join(tmpdir(), 'psdet-evalckpt-'));
  const ckpt = join(work, 'checkpoints', 'model_0000001');

  beforeAll(async () => {
    const cfg = defaultConfig();
    Object.assign(cfg.model, { depth: 18, widthMultiplier: 1 / 16, norm: 'frozen_bn', fpnChannels: 16, headChannels: 16, headDepth: 1 });
    cfg.model.priorProbability = 0.2;
    cfg.input.testMinSize = 64;
    cfg.input.maxSize = 96;
    cfg.data.workers = 0;
    cfg.collapse.probeImages = 1;
    mkdirSync(ckpt, { recursive: true });
    writeFileSync(join(work, 'config.json'), JSON.stringify(cfg));
    const model = buildRetinaNet(cfg.model, new Rng(0));
    writeFileSync(join(ckpt, 'model.safetensors'), await encodeTensors(moduleTensors(model)));
    model.dispose();
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
