import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTrainArgs, resolveTrainConfig } from '../../src/cli/train-args.js';
import { buildRetinaNet } from '../../src/model/build.js';
import { Rng } from '../../src/util/rng.js';
import { writeSafetensors } from '../../src/weights/safetensors.js';
import { toTorchvisionTensors } from '../../src/weights/torchvision.js';
import { ROOT } from '../helpers.js';

/** The train-det test's very small run: 64 px, batch 2, 2 val images, cpu. */
const SMALL = [
  '--backend', 'cpu', '--batch-size', '2', '--max-iter', '1',
  '--set', 'input.trainMinSizes=[64]', 'input.testMinSize=64', 'input.maxSize=64', 'model.widthMultiplier=0.125',
  'model.fpnChannels=16', 'model.headChannels=16', 'model.headDepth=1', 'data.valLimit=2', 'collapse.probeImages=1',
  'solver.warmupIters=0', 'train.logPeriod=1', 'train.checkpointPeriod=1000', 'train.collapsePeriod=0', 'train.evalPeriod=0',
  '--no-progress',
];

describe('train-det --weights (child process)', () => {
  it('fine-tunes a psBN model on the shapes set from a 91-class torchvision RetinaNet: betas shifted, class count from the dataset, class layer re-initialised', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'psdet-finetune-'));
    try {
      // "COCO-trained" weights for the same network with torchvision's 91 class slots, under torchvision names.
      const cfg = resolveTrainConfig(parseTrainArgs(SMALL)).model;
      const coco = buildRetinaNet({ ...cfg, numClasses: 91 }, new Rng(5));
      const weights = join(dir, 'coco.safetensors');
      writeSafetensors(weights, await toTorchvisionTensors(coco, 'retinanet'));
      const betas = coco.backbone.params().filter((p) => p.name.endsWith('.beta')).length;
      coco.dispose();
      // The config says 80 classes (COCO's); the shapes set has 3: a fresh fine-tuning run takes the dataset's count.
      const run = ['--import', 'tsx', join(ROOT, 'src/cli/train-det.ts'), ...SMALL, '--set', 'model.numClasses=80', '--norm', 'psbn', '--weights', weights, '--work-dir', join(dir, 'run')];
      const r = spawnSync(process.execPath, run, {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 300_000,
        env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST'))),
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/model\.numClasses 80 -> 3: the categories of \S+instances_train2017\.json \(written to config\.json\)/);
      expect((JSON.parse(readFileSync(join(dir, 'run', 'config.json'), 'utf8')) as { model: { numClasses: number } }).model.numClasses).toBe(3);
      expect(r.stdout).toContain(`weights ${weights}: `);
      expect(r.stdout).toMatch(new RegExp(`psBN: ${betas} betas shifted by -0\\.1 \\(same function as the BN weights at step 0\\); classification layer re-initialised: the weights have 91 classes, the model 3`));
      expect(r.stdout).toContain(`initial weights: ${weights}`);
      expect(r.stdout).toMatch(/iter 1\b/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without --weights a class-count mismatch stays an error naming the file and the flag', () => {
    const dir = mkdtempSync(join(tmpdir(), 'psdet-classes-'));
    try {
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/train-det.ts'), ...SMALL, '--set', 'model.numClasses=80', '--work-dir', join(dir, 'run')], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 300_000,
        env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST'))),
      });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^train-det: \S+instances_train2017\.json: has 3 categories but model\.numClasses is 80 \(set it with --set model\.numClasses=3\)\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unknown torchvision name is one line and exit 2 before anything loads', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/train-det.ts'), '--weights', 'torchvision:resnet51'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('train-det: torchvision:resnet51: unknown weights; known: resnet18, resnet34, resnet50, resnet50.IMAGENET1K_V2, resnet101, resnet101.IMAGENET1K_V2, retinanet_resnet50_fpn_coco\n');
  });
});
