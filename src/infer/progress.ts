/**
 * A one-line progress bar for a terminal: `[#######.............]  35/100  35%  4.2 img/s  eta 15s`. Redrawn in place
 * with a carriage return; silent when the stream is not a TTY (logs and pipes stay clean).
 */
export class ProgressBar {
  private done = 0;
  private readonly start: number;
  private readonly enabled: boolean;

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.start = now();
    this.enabled = stream.isTTY === true && total > 1;
  }

  /** Marks `count` more items done and redraws. */
  tick(count = 1): void {
    this.done = Math.min(this.total, this.done + count);
    if (this.enabled) this.stream.write(`\r${formatProgress(this.done, this.total, (this.now() - this.start) / 1000)}`);
  }

  /** Ends the line (when drawing). */
  finish(): void {
    if (this.enabled) this.stream.write('\n');
  }
}

/** The bar's text for `done` of `total` after `seconds` seconds; width 20 characters of bar. */
export function formatProgress(done: number, total: number, seconds: number, width = 20): string {
  const fraction = total > 0 ? done / total : 1;
  const filled = Math.round(fraction * width);
  const rate = seconds > 0 ? done / seconds : 0;
  const eta = rate > 0 ? Math.round((total - done) / rate) : NaN;
  const pad = String(total).length;
  return (
    `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(done).padStart(pad)}/${total} ` +
    `${String(Math.round(fraction * 100)).padStart(3)}%  ${rate.toFixed(1)} img/s  eta ${Number.isNaN(eta) ? '?' : `${eta}s`}`
  );
}
