import type { WriteStream } from 'node:tty';

/**
 * A one-line progress bar for a terminal: `train [#######.............]  350/1500  23%  eta 0:01:12`, with a label
 * per task (train, evaluation, collapse probe). Log lines are printed through `print`, which clears the bar first
 * and redraws it after, while a task runs: a task that reached its total is finished and is not drawn again.
 */
export class ProgressBar {
  private line = '';

  constructor(
    private readonly stream: Pick<WriteStream, 'write'>,
    private readonly width = 30,
  ) {}

  update(done: number, total: number, etaSeconds: number | null, label = 'train'): void {
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(fraction * this.width);
    const eta = etaSeconds === null ? '' : `  eta ${formatEta(etaSeconds)}`;
    const text = `${label} [${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}]  ${done}/${total}  ${Math.floor(fraction * 100)}%${eta}`;
    this.stream.write(`\r\x1b[2K${text}`);
    // finished: leave it drawn until the next line, then forget it (no stale bar under later log lines)
    this.line = done >= total ? '' : text;
  }

  /** Prints `text` on its own line above the bar. */
  print(text: string): void {
    this.stream.write(`\r\x1b[2K${text}\n${this.line}`);
  }

  clear(): void {
    this.stream.write('\r\x1b[2K');
    this.line = '';
  }
}

function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * One task counted toward `total` on a {@link ProgressBar} with its eta from the rate so far:
 * `images [#########.....................]  35/100  35%  eta 0:00:15`. Silent when the stream is not a TTY (logs
 * and pipes stay clean) or there is a single item.
 */
export class TaskProgress {
  private done = 0;
  private readonly start: number;
  private readonly bar: ProgressBar | null;

  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.start = now();
    this.bar = stream.isTTY === true && total > 1 ? new ProgressBar(stream) : null;
  }

  /** Marks `count` more items done and redraws. */
  tick(count = 1): void {
    this.done = Math.min(this.total, this.done + count);
    if (this.bar === null) return;
    const seconds = (this.now() - this.start) / 1000;
    const eta = this.done > 0 ? (seconds / this.done) * (this.total - this.done) : null;
    this.bar.update(this.done, this.total, eta, this.label);
  }

  /** Ends the bar's line, leaving the finished bar on screen (when drawing). */
  finish(): void {
    if (this.bar !== null) this.stream.write('\n');
  }
}
