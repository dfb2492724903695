import { CommanderError } from 'commander';
import { environmentError } from '../util/env-errors.js';
import { InputError } from '../util/errors.js';

/**
 * The one line a user-fixable error ends a command with, or null for a bug: bad input (an InputError: a file, a
 * field, a flag) and a bad environment (an EnvironmentError, or a raw file-system error such as ENOSPC, EROFS,
 * EACCES, EMFILE: `cannot write PATH: no space left on device`).
 */
export function userErrorLine(err: unknown): string | null {
  if (err instanceof InputError) return err.message.split('\n')[0]!;
  const env = environmentError(err);
  return env === null ? null : env.message;
}

/**
 * How every psdet command ends on an error: help and version requests exit 0; a usage error, bad input or a bad
 * environment prints one line `command: message` and exits 2, without a stack trace; anything else is a bug and
 * prints its stack, exit 1.
 */
export function exitOnError(command: string, err: unknown): never {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) process.exit(0);
    console.error(`${command}: ${err.message.replace(/^error: /, '').split('\n')[0]}`);
    process.exit(2);
  }
  const line = userErrorLine(err);
  if (line !== null) {
    console.error(`${command}: ${line}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
}
