import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRunRecords } from '../../src/report/records.js';
import { studyCurves, writeStudyReport } from '../../src/report/study-report.js';
import { fakeRunDir } from './fixtures.js';

describe('study report', () => {
  it('overlays one series per arm and tabulates the final figures of each', async () => {
    const a = fakeRunDir();
    const b = fakeRunDir();
    const sets = studyCurves([
      { id: 'bn', records: readRunRecords(a) },
      { id: 'psbn', records: readRunRecords(b) },
    ]);
    expect(sets.map((s) => s.file)).toEqual(['loss', 'ap', 'dead_total', 'dead_res2', 'dead_fpn']);
    for (const set of sets) expect(set.series.map((s) => s.name)).toEqual(['bn', 'psbn']);
    // res2 dead 2/24 at 50, 4/24 at 100
    expect(sets[3]!.series[0]!.points).toEqual([[50, 2 / 24], [100, 4 / 24]]);
    expect(sets[1]!.series[1]!.points).toEqual([[50, 0.1], [100, 0.2]]);

    const study = mkdtempSync(join(tmpdir(), 'psdet-study-'));
    const path = await writeStudyReport(study, 'Grid', [{ id: 'bn', workDir: a }, { id: 'psbn', workDir: b }]);
    const html = readFileSync(path, 'utf8');
    expect(html).not.toMatch(/https?:/);
    expect(html.match(/<div class="chart"/g)).toHaveLength(5);
    // AP 0.2 -> 20.0, AP50 0.4 -> 40.0, total dead 8 / 56 -> 14.3, last loss 0.7 + 0.5
    expect(html).toContain('<td>100</td><td>20.0</td><td>40.0</td><td>14.3</td><td>1.200</td>');
  }, 60_000);
});
