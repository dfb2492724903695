import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTrainArgs, resolveTrainConfig } from '../../src/cli/train-args.js';
import { runCli } from '../helpers.js';

describe('train-det --print-config', () => {
  it('prints the resolved config as JSON, equal to what training would use, and exits without creating the work dir', () => {
    const workDir = join(mkdtempSync(join(tmpdir(), 'psdet-print-')), 'run');
    const args = ['--norm', 'psbn', '--max-iter', '7', '--work-dir', workDir, '--set', 'train.evalPeriod=3'];
    const r = runCli('train-det.ts', ['--print-config', ...args]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const printed = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(printed).toEqual(JSON.parse(JSON.stringify(resolveTrainConfig(parseTrainArgs(args)))));
    expect(printed).toMatchObject({ workDir, model: { norm: 'psbn' }, solver: { maxIter: 7 }, train: { evalPeriod: 3 } });
    expect(existsSync(workDir)).toBe(false);
  });
});
