/**
 * Training stopped because the run went wrong (a non-finite or exploding loss; trainer.ts); the CLI exits with code
 * 1 and the last good checkpoint stays `last`. Kept apart from the trainer so the CLI can recognise it without
 * loading tfjs.
 */
export class TrainingFailedError extends Error {
  constructor(
    message: string,
    /** The 1-based iteration whose step was refused (as in the log's `iter N`). */
    readonly iteration: number,
    readonly lastCheckpoint: string | null,
  ) {
    super(`${message}; training stopped before the update, ${keptLine(lastCheckpoint)}`);
    this.name = 'TrainingFailedError';
  }
}

function keptLine(lastCheckpoint: string | null): string {
  return lastCheckpoint === null ? 'no checkpoint written yet' : `last good checkpoint: ${lastCheckpoint}`;
}

