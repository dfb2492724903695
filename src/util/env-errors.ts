import { InputError } from './errors.js';

/**
 * What the file system said, in words, for the errors a user fixes in their environment rather than in the code:
 * a full disk or quota, a read-only mount, missing permissions, too many open files.
 */
const CAUSES: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EFBIG: 'file too large',
  EIO: 'input/output error',
  ENOTDIR: 'a parent is not a directory',
};

/**
 * A bad environment (full disk, read-only or unwritable directory, file limit). Like bad input it ends a command
 * with one line and exit code 2: the user fixes it outside the program. `code` is the errno name.
 */
export class EnvironmentError extends InputError {
  constructor(
    message: string,
    readonly code: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'EnvironmentError';
  }
}

/** The errno name of a Node file-system error, or null for anything else. */
export function errnoCode(err: unknown): string | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : null;
}

/** True for the errno codes that mean "fix your environment" (see CAUSES). */
export function isEnvironmentCode(code: string | null): code is string {
  return code !== null && code in CAUSES;
}

/** `no space left on device` for ENOSPC; the code itself for one without words. */
export function describeCode(code: string): string {
  return CAUSES[code] ?? code;
}

/** System calls that read; `open` is either; any other failing call is reported as a write. */
const READ_CALLS = new Set(['read', 'scandir', 'stat', 'lstat', 'access', 'opendir']);

/**
 * `cannot write PATH: no space left on device` as an EnvironmentError when `err` is an environment error, else
 * null. `path` defaults to the error's own path; `action` (the verb) to `open`, `read` or `write` by the failing
 * call.
 */
export function environmentError(err: unknown, path?: string, action?: string): EnvironmentError | null {
  if (err instanceof EnvironmentError) return err;
  const code = errnoCode(err);
  if (!isEnvironmentCode(code)) return null;
  const e = err as NodeJS.ErrnoException;
  const where = path ?? e.path ?? '(unknown path)';
  const verb = action ?? (e.syscall === 'open' ? 'open' : READ_CALLS.has(e.syscall ?? '') ? 'read' : 'write');
  return new EnvironmentError(`cannot ${verb} ${where}: ${describeCode(code)}`, code, where);
}
