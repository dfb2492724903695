import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildReport } from '../../src/analysis/collapse.js';
import { appendCollapseLog } from '../../src/analysis/collapse-log.js';
import { parseChoiceList, parseNumberList, studyProgram, type StudyWiring } from '../../src/cli/study-det-program.js';
import type { Config } from '../../src/config/types.js';
import { defaultConfig } from '../../src/config/defaults.js';
import { InputError } from '../../src/util/errors.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'psdet-study-cli-'));
  dirs.push(d);
  return d;
}

const report = (dead: number) =>
  buildReport(
    [{ name: 'stem.relu', stage: 'stem', channels: 4, images: 2, dead, deadChannels: Array.from({ length: dead }, (_, i) => i), max: [], normFed: true, paramCollapsed: 0, normNonPositive: dead, alpha: 0 }],
    { deadThreshold: 0, gammaThreshold: 0.01 },
  );

function fakeWiring(printed: string[], configs: Config[]): StudyWiring {
  return {
    measure: async (config) => {
      configs.push(config);
      return report(1);
    },
    runTraining: async (config) => {
      configs.push(config);
      appendCollapseLog(join(config.workDir, 'collapse.jsonl'), config.solver.maxIter, report(config.model.norm === 'bn' ? 2 : 0));
      return { mAP: 0.01 };
    },
    fineTune: async (config) => ({ mAP: null, checkpoint: join(config.workDir, 'last') }),
    print: (text) => printed.push(text),
  };
}

/** A work dir as train-det leaves it: config.json (ResNet-34, psBN) and checkpoints/last -> model_0000004. */
function fakeRun(): string {
  const workDir = tempDir();
  const config = defaultConfig();
  config.model.depth = 34;
  config.model.norm = 'psbn';
  writeFileSync(join(workDir, 'config.json'), JSON.stringify(config));
  mkdirSync(join(workDir, 'checkpoints', 'model_0000004'), { recursive: true });
  writeFileSync(join(workDir, 'checkpoints', 'model_0000004', 'model.safetensors'), '');
  writeFileSync(join(workDir, 'checkpoints', 'last'), 'model_0000004\n');
  return workDir;
}

const run = (wiring: StudyWiring, args: string[]) => studyProgram(wiring).parseAsync(args, { from: 'user' });

describe('study-det', () => {
  it('collapse: resolves the config from flags, prints the table and writes the JSON report', async () => {
    const printed: string[] = [];
    const configs: Config[] = [];
    const out = join(tempDir(), 'r.json');
    const last = join(fakeRun(), 'checkpoints', 'last');
    await run(fakeWiring(printed, configs), [
      'collapse', last, '--probe-images', '4', '--dead-threshold', '0.01', '--data', '/coco', '--set', 'model.depth=18', '--json', out,
    ]);
    expect(configs[0]!.collapse).toMatchObject({ probeImages: 4, deadThreshold: 0.01, gammaThreshold: 1e-2 });
    expect(configs[0]!.data.root).toBe('/coco');
    expect(configs[0]!.model.depth).toBe(18);
    expect(printed[0]).toContain(`collapsed filters: ${last}`);
    // the rest from the run's config.json
    expect(configs[0]!.model.norm).toBe('psbn');
    // 1 dead of 4 stem channels.
    expect(printed[0]).toMatch(/stem\s+1\s+4\s+1\s+25\.0%/);
    expect(JSON.parse(readFileSync(out, 'utf8')).sites[0].deadChannels).toEqual([0]);
  });

  it('collapse: a checkpoint without --config reads its run\'s config.json; --config wins', async () => {
    const configs: Config[] = [];
    const workDir = fakeRun();
    await run(fakeWiring([], configs), ['collapse', join(workDir, 'checkpoints', 'last')]);
    await run(fakeWiring([], configs), ['collapse', join(workDir, 'checkpoints', 'model_0000004')]);
    expect(configs.map((c) => [c.model.depth, c.model.norm])).toEqual([[34, 'psbn'], [34, 'psbn']]);
    const elsewhere = tempDir();
    mkdirSync(join(elsewhere, 'model_0000001'));
    writeFileSync(join(elsewhere, 'model_0000001', 'model.safetensors'), '');
    await expect(run(fakeWiring([], configs), ['collapse', join(elsewhere, 'model_0000001')])).rejects.toThrow(/no config.json .* pass --config FILE/);
  });

  it('grid: trains every cell, skips finished ones on a second call, writes the report', async () => {
    const dir = tempDir();
    const printed: string[] = [];
    const configs: Config[] = [];
    const args = ['grid', '--out', dir, '--norms', 'bn,psbn', '--lrs', '0.01,0.02', '--max-iter', '7'];
    await run(fakeWiring(printed, configs), args);
    expect(configs.map((c) => c.workDir)).toEqual(['bn_sgd_lr0.01_frozen0', 'bn_sgd_lr0.02_frozen0', 'psbn_sgd_lr0.01_frozen0', 'psbn_sgd_lr0.02_frozen0'].map((id) => join(dir, 'runs', id)));
    expect(configs[0]!.solver.maxIter).toBe(7);
    await run(fakeWiring(printed, configs), args);
    expect(configs).toHaveLength(4);
    expect(printed.filter((p) => p.includes('finished before, skipped'))).toHaveLength(4);
    expect(existsSync(join(dir, 'report.md'))).toBe(true);
    // bn: 2 of 4 dead = 50.0%; psbn 0.0%.
    expect(printed.find((p) => p.startsWith('run'))).toMatch(/bn_sgd_lr0\.01_frozen0\s+1\.0\s+50\.0%\s+50\.0%/);
  });

  it('rejects bad lists with a one-line error naming the flag', async () => {
    expect(() => parseChoiceList('--norms', 'bn,group', ['bn', 'psbn'])).toThrow(new InputError('--norms: "group" is not one of bn, psbn'));
    expect(() => parseNumberList('--lrs', '0.01,abc')).toThrow('--lrs: "abc" is not a number');
    expect(() => parseNumberList('--frozen', '1.5', { integer: true })).toThrow('--frozen: "1.5" is not an integer');
    expect(parseNumberList('--lrs', ' 0.01, 0.05 ')).toEqual([0.01, 0.05]);
    await expect(run(fakeWiring([], []), ['grid', '--out', tempDir(), '--optimizers', 'rmsprop'])).rejects.toThrow(InputError);
  });
});
