import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTrainArgs } from '../../src/cli/train-args.js';
import { COCO_MINI, cocoMiniSkip, ROOT, runCli } from '../helpers.js';

const COCO_MINI_SKIP = cocoMiniSkip();
import { PYTHON, parityFixture } from '../model/parity-fixture.js';
import { PTH_DIR, PTH_SKIP, pthFixtures, referenceTensors } from './pth-fixture.js';

describe('train-det --weights', () => {
  it('is parsed into the command (null without it)', () => {
    expect(parseTrainArgs(['--weights', 'torchvision:resnet50']).weights).toBe('torchvision:resnet50');
    expect(parseTrainArgs([]).weights).toBeNull();
  });
});

describe.skipIf(PTH_SKIP !== '')(`convert-weights and --weights on the command line ${PTH_SKIP}`, () => {
  let dir: string;
  beforeAll(() => {
    pthFixtures();
    dir = mkdtempSync(join(tmpdir(), 'psdet-convert-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('convert-weights writes the tensors unchanged (nested "model" unwrapped, float16 / bfloat16 / int64 kept); torch reads them back equal', () => {
    const out = join(dir, 'nested.safetensors');
    const r = runCli('convert-weights.ts', [join(PTH_DIR, 'nested.pth'), out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/nested\.safetensors: 17 tensors \(.*F16.*\).*unwrapped from "model"/);
    const ours = referenceTensors(out);
    const ref = referenceTensors(join(PTH_DIR, 'nested.safetensors'));
    expect([...ours.keys()]).toEqual([...ref.keys()]);
    for (const [k, t] of ref) {
      expect(ours.get(k)!.dtype, k).toBe(t.dtype);
      expect(ours.get(k)!.shape, k).toEqual(t.shape);
      expect(Buffer.compare(Buffer.from(ours.get(k)!.bytes), Buffer.from(t.bytes)), k).toBe(0);
    }
    // An independent reader: PyTorch compares our file with torch.load of the checkpoint, tensor by tensor.
    const check = [
      'import sys, torch',
      `sys.path.insert(0, ${JSON.stringify(join(ROOT, 'tools'))})`,
      'from safetensors_io import load_file',
      `ours = load_file(${JSON.stringify(out)})`,
      `ref = torch.load(${JSON.stringify(join(PTH_DIR, 'nested.pth'))})["model"]`,
      'assert list(ours) == list(ref), (list(ours), list(ref))',
      'bad = [k for k in ref if ours[k].dtype != ref[k].dtype or not torch.equal(ours[k], ref[k].detach())]',
      'print("mismatch", bad) if bad else print("equal", len(ref))',
    ].join('\n');
    expect(execFileSync(PYTHON, ['-c', check], { encoding: 'utf8' }).trim()).toBe('equal 17');
  });

  it('convert-weights on a truncated file: one line naming it, exit 2, no output written', () => {
    const cut = join(dir, 'cut.pth');
    const bytes = readFileSync(join(PTH_DIR, 'resnet18.pth'));
    writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
    const r = runCli('convert-weights.ts', [cut, join(dir, 'cut.safetensors')]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^convert-weights: .*cut\.pth: truncated/);
  });

  it.skipIf(COCO_MINI === null)(`eval-det --weights runs a .pth RetinaNet through psdet's pipeline (class layer re-initialised for coco-mini's 80 classes) ${COCO_MINI_SKIP}`, () => {
    const fx = parityFixture('small');
    const config = join(dir, 'small.json');
    const m = fx.meta;
    writeFileSync(
      config,
      JSON.stringify({
        model: { depth: m.depth, widthMultiplier: m.widthMultiplier, norm: 'bn', normEval: true, frozenStages: 0, fpnChannels: m.fpnChannels, headChannels: m.headChannels, headDepth: m.headDepth, p6Input: m.p6Input },
        input: { testMinSize: 128, maxSize: 160 },
      }),
    );
    const r = runCli('eval-det.ts', ['--weights', join(PTH_DIR, 'retinanet-small.pth'), '--config', config, '--data', COCO_MINI!, '--limit', '2', '--backend', 'wasm', '--no-collapse', '--out', dir], 300_000);
    expect(r.stderr.split('\n').filter((l) => / error|eval-det:/.test(l))).toEqual([]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/weights .*retinanet-small\.pth: 134 tensors \(torchvision-retinanet\); classification layer re-initialised: the weights have 7 classes, the model 80/);
    expect(r.stdout).toContain('Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]');
  });
});
