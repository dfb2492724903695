import { CommanderError } from 'commander';
import { InputError } from '../util/errors.js';

/**
 * How every psdet command ends on an error: help and version requests exit 0; a usage error or bad input (an
 * InputError: a file, a field, a flag) prints one line `command: message` and exits 2, without a stack trace;
 * anything else is a bug and prints its stack, exit 1.
 */
export function exitOnError(command: string, err: unknown): never {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) process.exit(0);
    console.error(`${command}: ${err.message.replace(/^error: /, '').split('\n')[0]}`);
    process.exit(2);
  }
  if (err instanceof InputError) {
    console.error(`${command}: ${err.message.split('\n')[0]}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
}
