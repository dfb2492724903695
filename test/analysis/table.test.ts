import { describe, expect, it } from 'vitest';
import { buildReport, type SiteCollapse } from '../../src/analysis/collapse.js';
import { formatCollapseTable, formatRevivalTable, formatTable, percent } from '../../src/analysis/table.js';

function site(name: string, stage: SiteCollapse['stage'], channels: number, dead: number, normFed: boolean, paramCollapsed = 0): SiteCollapse {
  return {
    name, stage, channels, images: 4, dead, deadChannels: Array.from({ length: dead }, (_, i) => i), max: [], normFed,
    paramCollapsed, normNonPositive: normFed ? dead : 0, alpha: normFed ? 0 : null,
  };
}

describe('formatTable', () => {
  it('pads columns to the widest cell, text left and numbers right', () => {
    // widths 3 and 3: 'a' + 2 spaces, 2-space gap, ' bb'.
    expect(formatTable(['a', 'bb'], [['xyz', '1'], ['q', '123']])).toBe(['a     bb', '---  ---', 'xyz    1', 'q    123'].join('\n'));
  });
});

describe('formatCollapseTable', () => {
  it('prints a row per stage, the total and the thresholds', () => {
    // stem 64 channels, 16 dead (25.0%), norm-fed, 8 parameter-collapsed (12.5%).
    // res2: 256 channels, 64 dead (25.0%) from a residual sum, no norm view.
    // total: 80 / 320 = 25.0%; parameter view over the 64 norm-fed channels: 8 / 64 = 12.5%.
    const report = buildReport(
      [site('stem.relu', 'stem', 64, 16, true, 8), site('res2.0.relu3', 'res2', 256, 64, false)],
      { deadThreshold: 0, gammaThreshold: 0.01 },
    );
    const text = formatCollapseTable(report, 'iteration 100');
    expect(text.split('\n')).toEqual([
      'iteration 100',
      'stage  sites  channels  dead  dead %  norm ch  param-collapsed %  max(γx̂+β+α)≤0 %',
      '-----  -----  --------  ----  ------  -------  -----------------  ----------------',
      'stem       1        64    16   25.0%       64              12.5%             25.0%',
      'res2       1       256    64   25.0%        -                  -                 -',
      'total      2       320    80   25.0%       64              12.5%             25.0%',
      'probe: 4 image(s); dead: ReLU input <= 0 everywhere on the probe; param-collapsed: |γ| < 0.01 and β+α <= 0 (norm-fed sites only)',
    ]);
  });

  it('prints the revival table', () => {
    const text = formatRevivalTable([
      { stage: 'res2', channels: 10, deadBefore: 4, deadAfter: 1, revived: 3, revivedRatio: 0.75, newlyDead: 0 },
      { stage: 'total', channels: 10, deadBefore: 0, deadAfter: 0, revived: 0, revivedRatio: null, newlyDead: 0 },
    ]);
    expect(text.split('\n')[2]).toBe('res2         10              4            1        3      75.0%           0');
    expect(text.split('\n')[3]).toMatch(/-\s+0$/);
    expect(percent(Number.NaN)).toBe('-');
  });
});
