import { describe, expect, it } from 'vitest';
import { ProgressBar } from '../../src/cli/progress.js';

function recorder(): { stream: { write(s: string): boolean }; text: () => string } {
  let out = '';
  return { stream: { write: (s: string) => ((out += s), true) }, text: () => out };
}

describe('ProgressBar', () => {
  it('redraws a running bar under each log line, with its label', () => {
    const r = recorder();
    const bar = new ProgressBar(r.stream, 10);
    bar.update(3, 10, 65, 'evaluation');
    bar.print('a line');
    // 3 / 10 of 10 cells -> 3 filled; eta 65 s -> 0:01:05
    expect(r.text().endsWith('\r\x1b[2Ka line\nevaluation [###.......]  3/10  30%  eta 0:01:05')).toBe(true);
  });

  it('does not draw a finished bar again under later lines', () => {
    const r = recorder();
    const bar = new ProgressBar(r.stream, 4);
    bar.update(20, 20, 0);
    expect(r.text()).toContain('train [####]  20/20  100%');
    bar.print('evaluation summary');
    bar.print('mAP 0.0');
    expect(r.text().split('20/20')).toHaveLength(2);
    expect(r.text().endsWith('mAP 0.0\n')).toBe(true);
  });
});
