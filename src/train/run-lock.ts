import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { environmentError } from '../util/env-errors.js';
import { InputError } from '../util/errors.js';

/**
 * One training process per work dir: `train.lock` holds the owner's pid, host and start time. It is created
 * complete and atomically (written to a private file, then hard-linked to the lock name, which fails when the lock
 * exists), so a reader never sees a half-written lock. A lock whose process is gone (killed with SIGKILL, a
 * crash) is stale and is taken over; the caller says so.
 */

export const LOCK_FILE = 'train.lock';

export interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the owner took the lock. */
  startedAt: string;
}

export interface RunLock {
  path: string;
  owner: LockOwner;
  /** The stale lock that was taken over, null when the dir was free. */
  tookOver: LockOwner | null;
  /** Removes the lock if it is still ours (idempotent; safe in an exit handler). */
  release(): void;
}

/** Whether a process with this pid exists on this host (EPERM: it exists but is someone else's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | null {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    if (!Number.isInteger(owner.pid) || typeof owner.host !== 'string' || typeof owner.startedAt !== 'string') return null;
    return owner as LockOwner;
  } catch {
    return null;
  }
}

/**
 * Takes the work dir's lock or throws an InputError naming the dir and the process that holds it. A lock left by
 * a dead process on this host, or an unreadable one, is replaced. File-system failures (a read-only dir) are
 * EnvironmentErrors.
 */
export function acquireRunLock(workDir: string, isAlive: (pid: number) => boolean = processAlive): RunLock {
  const path = join(workDir, LOCK_FILE);
  const owner: LockOwner = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
  const mine = join(workDir, `.${LOCK_FILE}.${process.pid}`);
  let tookOver: LockOwner | null = null;
  try {
    writeFileSync(mine, `${JSON.stringify(owner)}\n`);
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(mine, path);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
      }
      const holder = readOwner(path);
      if (holder !== null && (holder.host !== owner.host || isAlive(holder.pid))) {
        const where = holder.host === owner.host ? `pid ${holder.pid}` : `pid ${holder.pid} on host ${holder.host}`;
        throw new InputError(
          `work dir ${workDir} is in use by another train-det (${where}, since ${holder.startedAt}; ${path}): ` +
            'wait for it to finish or pass another --work-dir',
        );
      }
      // Stale: its process is gone. Re-read just before removing it, so a lock another process has just taken
      // over is not removed in its place.
      if (JSON.stringify(readOwner(path)) !== JSON.stringify(holder)) continue;
      tookOver = holder ?? { pid: -1, host: 'unknown', startedAt: 'unknown' };
      unlinkSync(path);
    }
  } catch (err) {
    throw environmentError(err, workDir, 'write') ?? err;
  } finally {
    try {
      unlinkSync(mine);
    } catch {
      // never written (a read-only dir)
    }
  }
  let released = false;
  return {
    path,
    owner,
    tookOver,
    release: () => {
      if (released) return;
      released = true;
      const holder = readOwner(path);
      if (holder !== null && holder.pid === owner.pid && holder.startedAt === owner.startedAt) {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      }
    },
  };
}

/** `took over the stale lock of pid 123 (started 2026-…, no longer running)`, for the log. */
export function takeoverLine(lock: RunLock): string | null {
  const t = lock.tookOver;
  if (t === null) return null;
  return t.pid < 0
    ? `${lock.path}: replaced an unreadable lock file`
    : `${lock.path}: took over the stale lock of pid ${t.pid} (started ${t.startedAt}; no longer running)`;
}
