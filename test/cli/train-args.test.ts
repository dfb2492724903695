import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, parseTrainArgs, resolveTrainConfig, setsMaxIter } from '../../src/cli/train-args.js';
import { defaultConfig } from '../../src/config/defaults.js';
import { ROOT } from '../helpers.js';

function configFile(content: object): string {
  const path = join(mkdtempSync(join(tmpdir(), 'psdet-cli-')), 'my_run.json');
  writeFileSync(path, JSON.stringify(content));
  return path;
}

describe('train-det arguments', () => {
  it('defaults to the tiny shapes config with no argument', () => {
    const cmd = parseTrainArgs(['--norm', 'psbn']);
    expect(cmd.configPath).toBe(DEFAULT_CONFIG);
    expect(basename(DEFAULT_CONFIG)).toBe('retinanet_r18_tiny_shapes.json');
    expect(DEFAULT_CONFIG).toBe(join(ROOT, 'models', 'retinanet_r18_tiny_shapes.json'));
    const config = resolveTrainConfig(cmd);
    expect(config.model.norm).toBe('psbn');
    expect(config.data.root).toBeNull();
    expect(config.workDir).toBe('work_dirs/retinanet_r18_tiny_shapes-psbn');
    expect(cmd).toMatchObject({ resume: null, evalOnly: false });
  });

  it('flags override the config file, which overrides the defaults; --set comes last', () => {
    const path = configFile({ solver: { baseLr: 0.02, maxIter: 100, batchSize: 4 }, model: { norm: 'bn', depth: 18 }, workDir: 'w/file' });
    const cmd = parseTrainArgs([
      path,
      '--lr', '0.5',
      '--norm', 'frozen_bn',
      '--optimizer', 'adamw',
      '--data', '/data/coco',
      '--set', 'solver.maxIter=7', 'solver.baseLr=0.25',
      '--set', 'train.logPeriod=3',
    ]);
    const config = resolveTrainConfig(cmd);
    expect(config.name).toBe('my_run');
    expect(config.solver.baseLr).toBe(0.25); // --set after --lr, both over the file's 0.02
    expect(config.solver.maxIter).toBe(7); // --set over the file
    expect(config.solver.batchSize).toBe(4); // file over the default 16
    expect(config.solver.optimizer).toBe('adamw'); // flag over the default
    expect(config.model.norm).toBe('frozen_bn'); // flag over the file's bn
    // with its preset: no batch statistics, no trained gamma/beta
    expect([config.model.normEval, config.model.normAffineTrainable]).toEqual([true, false]);
    expect(config.model.depth).toBe(18); // file over the default 50
    expect(config.model.fpnChannels).toBe(defaultConfig().model.fpnChannels); // default
    expect(config.data.root).toBe('/data/coco');
    expect(config.train.logPeriod).toBe(3);
    expect(config.workDir).toBe('w/file'); // the file names it
    expect(resolveTrainConfig(parseTrainArgs([path, '--work-dir', 'w/flag'])).workDir).toBe('w/flag');
  });

  it('--skip-bad-images turns on data.skipBadImages (off by default)', () => {
    expect(resolveTrainConfig(parseTrainArgs([])).data.skipBadImages).toBe(false);
    expect(resolveTrainConfig(parseTrainArgs(['--skip-bad-images'])).data.skipBadImages).toBe(true);
  });

  it('reads --resume with and without a value and --eval-only', () => {
    expect(parseTrainArgs(['--resume']).resume).toBe('auto');
    expect(parseTrainArgs(['--resume', 'auto']).resume).toBe('auto');
    expect(parseTrainArgs(['--resume', 'runs/x/checkpoints/model_0000100', '--eval-only'])).toMatchObject({
      resume: 'runs/x/checkpoints/model_0000100',
      evalOnly: true,
    });
  });

  it('knows when the command line sets solver.maxIter (a resume may then change the run length)', () => {
    expect(setsMaxIter(parseTrainArgs(['--resume']))).toBe(false);
    expect(setsMaxIter(parseTrainArgs(['--resume', '--max-iter', '800']))).toBe(true);
    expect(setsMaxIter(parseTrainArgs(['--resume', '--set', 'solver.maxIter=800']))).toBe(true);
    expect(setsMaxIter(parseTrainArgs(['--set', 'solver.steps=[300]']))).toBe(false);
  });

  it('--resume / --eval-only without CONFIG run the work dir\'s config.json, with the flags on top', () => {
    const workDir = mkdtempSync(join(tmpdir(), 'psdet-cli-'));
    const made = resolveTrainConfig(parseTrainArgs(['--norm', 'psbn', '--batch-size', '2', '--max-iter', '40', '--work-dir', workDir]));
    writeFileSync(join(workDir, 'config.json'), JSON.stringify(made));
    const resumed = resolveTrainConfig(parseTrainArgs(['--resume', '--work-dir', workDir]));
    expect([resumed.model.norm, resumed.solver.batchSize, resumed.solver.maxIter, resumed.workDir]).toEqual(['psbn', 2, 40, workDir]);
    expect(resolveTrainConfig(parseTrainArgs(['--resume', '--work-dir', workDir, '--max-iter', '80'])).solver.maxIter).toBe(80);
    expect(resolveTrainConfig(parseTrainArgs(['--eval-only', '--work-dir', workDir])).model.norm).toBe('psbn');
    // a CONFIG named on the command line is what runs (the resume check then compares it with the saved run)
    expect(resolveTrainConfig(parseTrainArgs([DEFAULT_CONFIG, '--resume', '--work-dir', workDir])).model.norm).toBe('bn');
    // a fresh run never reads it
    expect(resolveTrainConfig(parseTrainArgs(['--work-dir', workDir])).model.norm).toBe('bn');
  });

  it('rejects out-of-range flags and --set values with one line naming the field', () => {
    expect(() => resolveTrainConfig(parseTrainArgs(['--lr', '-1']))).toThrow('command line: field "solver.baseLr" must be positive, got -1');
    expect(() => resolveTrainConfig(parseTrainArgs(['--set', 'input.flipProbability=2']))).toThrow('field "input.flipProbability" must be in [0, 1], got 2');
    expect(() => resolveTrainConfig(parseTrainArgs(['--set', 'solver.warmupFactor=-1']))).toThrow('field "solver.warmupFactor" must be in [0, 1], got -1');
    expect(() => resolveTrainConfig(parseTrainArgs(['--set', 'data.workers=-1']))).toThrow('field "data.workers" must be an integer >= 0');
    expect(() => resolveTrainConfig(parseTrainArgs(['--max-iter', '0']))).toThrow('field "solver.maxIter" must be an integer >= 1, got 0');
  });

  it('rejects bad input with one line naming the flag or field', () => {
    expect(() => parseTrainArgs(['--norm', 'gn'])).toThrow(/^option '--norm <kind>' argument 'gn' is invalid/);
    expect(() => parseTrainArgs(['--max-iter', 'many'])).toThrow('--max-iter: expected a number, got "many"');
    expect(() => parseTrainArgs(['--frobnicate'])).toThrow("unknown option '--frobnicate'");
    expect(() => parseTrainArgs(['nope.json'])).toThrow('nope.json: config file not found');
    expect(() => resolveTrainConfig(parseTrainArgs(['--set', 'solver.lr=1']))).toThrow('command line: unknown field "solver.lr"');
    expect(() => resolveTrainConfig(parseTrainArgs(['--batch-size', '0']))).toThrow('field "solver.batchSize" must be a positive integer');
  });

  it('every config in models/ resolves', async () => {
    const { readdirSync } = await import('node:fs');
    const files = readdirSync(join(ROOT, 'models')).filter((f) => f.endsWith('.json'));
    expect(files).toContain('retinanet_r50_fpn_1x_coco.json');
    for (const f of files) expect(() => resolveTrainConfig(parseTrainArgs([join(ROOT, 'models', f)]))).not.toThrow();
    const r50 = resolveTrainConfig(parseTrainArgs([join(ROOT, 'models', 'retinanet_r50_fpn_1x_coco.json')]));
    expect([r50.input.trainMinSizes, r50.input.maxSize, r50.solver.batchSize, r50.solver.baseLr, r50.solver.maxIter, r50.solver.steps, r50.model.frozenStages]).toEqual([
      [800], 1333, 16, 0.01, 90000, [60000, 80000], 1,
    ]);
  });
});
