import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { isWasmHeapExhausted, wasmHeapMessage } from '../backend/wasm-heap.js';
import { environmentError } from '../util/env-errors.js';
import { InputError } from '../util/errors.js';

/**
 * How every psdet command ends on an error: help and version requests exit 0; a usage error, bad input (an
 * InputError: a file, a field, a flag) or a bad environment (a read-only or full disk, a missing permission, the
 * wasm heap exhausted) prints one line `command: message` and exits 2, without a stack trace; anything else is a bug
 * and prints its stack, exit 1.
 * @param outDir the command's output directory, named when a write fails without a path (ENOSPC on an open file)
 */
export function exitOnError(command: string, err: unknown, outDir?: string): never {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) process.exit(0);
    console.error(`${command}: ${err.message.replace(/^error: /, '').split('\n')[0]}`);
    process.exit(2);
  }
  const line = oneLineError(err, outDir);
  if (line !== null) {
    console.error(`${command}: ${line}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
}

/**
 * The one line for an error that is the user's input or environment, else null (a bug: print the stack): an
 * InputError's first line, the wasm heap's limit and what to change, or `cannot write PATH: no space left on device`
 * for a file-system error of a bad environment (src/util/env-errors.ts).
 * @param outDir named in place of the path of a file-system error that carries none
 */
export function oneLineError(err: unknown, outDir?: string): string | null {
  if (err instanceof InputError) return err.message.split('\n')[0]!;
  if (isWasmHeapExhausted(err)) return wasmHeapMessage();
  const pathless = (err as NodeJS.ErrnoException | null)?.path === undefined;
  return environmentError(err, pathless && outDir !== undefined ? `under ${outDir}` : undefined)?.message ?? null;
}

/**
 * Creates `dir` (and its parents) and writes and removes a probe file in it, so that a read-only, full or
 * forbidden output directory is a one-line error before any work starts, not after.
 * @throws InputError naming the flag, the directory and the reason
 */
export function prepareOutputDir(dir: string, flag = '--out'): void {
  const probe = join(dir, `.psdet-write-test-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(probe, 'psdet\n');
    unlinkSync(probe);
  } catch (err) {
    const env = environmentError(err);
    if (env === null) throw err;
    throw new InputError(`${flag} ${dir}: ${env.message}`);
  }
}
