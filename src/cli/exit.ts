import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { isWasmHeapExhausted, wasmHeapMessage } from '../backend/wasm-heap.js';
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
 * The one line for an error that is the user's input or environment, else null (a bug: print the stack).
 * @param outDir named in place of the path of a system error that carries none
 */
export function oneLineError(err: unknown, outDir?: string): string | null {
  if (err instanceof InputError) return err.message.split('\n')[0]!;
  if (isWasmHeapExhausted(err)) return wasmHeapMessage();
  return systemErrorLine(err, outDir);
}

const REASONS: Record<string, string> = {
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'already exists',
  ENOENT: 'no such file or directory',
  EIO: 'input/output error',
};

const READING = new Set(['read', 'stat', 'lstat', 'fstat', 'scandir', 'opendir', 'access', 'readlink', 'realpath']);
const WRITING = new Set(['open', 'write', 'rename', 'unlink', 'rmdir', 'copyfile', 'symlink', 'link', 'ftruncate', 'fsync', 'close', 'utime', 'chmod']);

/**
 * `cannot write PATH: read-only file system (EROFS)` for a Node system error (one with an errno `code` and a
 * `syscall`) about the file system; null for anything else.
 */
export function systemErrorLine(err: unknown, outDir?: string): string | null {
  if (!(err instanceof Error)) return null;
  const e = err as NodeJS.ErrnoException;
  if (typeof e.code !== 'string' || typeof e.syscall !== 'string' || REASONS[e.code] === undefined) return null;
  const what =
    e.syscall === 'mkdir'
      ? 'cannot create directory'
      : READING.has(e.syscall)
        ? 'cannot read'
        : WRITING.has(e.syscall)
          ? 'cannot write'
          : `${e.syscall} failed for`;
  const where = e.path ?? (outDir !== undefined ? `under ${outDir}` : '(no path given)');
  return `${what} ${where}: ${REASONS[e.code]} (${e.code})`;
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
    const line = systemErrorLine(err, dir);
    if (line === null) throw err;
    throw new InputError(`${flag} ${dir}: ${line}`);
  }
}
