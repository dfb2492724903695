import { describe, expect, it } from 'vitest';
import { ProgressBar, TaskProgress } from '../../src/cli/progress.js';

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

describe('TaskProgress', () => {
  it('counts items on a labelled bar with the eta from the rate so far, and stays silent off a TTY', () => {
    let written = '';
    const pipe = { isTTY: false, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream;
    const quiet = new TaskProgress(10, 'images', pipe);
    quiet.tick();
    quiet.finish();
    expect(written).toBe('');
    const tty = { isTTY: true, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream;
    let t = 0;
    const bar = new TaskProgress(4, 'images', tty, () => (t += 10_000));
    // 1 of 4 after 10 s: 30 s to go; round(0.25 * 30) = 8 cells
    bar.tick();
    expect(written).toBe(`\r\x1b[2Kimages [${'#'.repeat(8)}${'.'.repeat(22)}]  1/4  25%  eta 0:00:30`);
    bar.tick(5); // capped at the total
    expect(written.endsWith('images [' + '#'.repeat(30) + ']  4/4  100%  eta 0:00:00')).toBe(true);
    bar.finish();
    expect(written.endsWith('\n')).toBe(true);
  });
});
