import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireRunLock, LOCK_FILE, processAlive, takeoverLine } from '../../src/train/run-lock.js';

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'psdet-lock-'));

/** The pid of a process that has exited (a stale lock's owner). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('run lock', () => {
  it('holds pid, host and start time; a second taker is refused naming the dir and the pid; release frees it', () => {
    const dir = tempDir();
    const lock = acquireRunLock(dir);
    const saved = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number; host: string; startedAt: string };
    expect(saved).toEqual({ pid: process.pid, host: hostname(), startedAt: lock.owner.startedAt });
    expect(lock.tookOver).toBeNull();
    expect(() => acquireRunLock(dir)).toThrow(
      `work dir ${dir} is in use by another train-det (pid ${process.pid}, since ${lock.owner.startedAt}; ${join(dir, LOCK_FILE)}): wait for it to finish or pass another --work-dir`,
    );
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    lock.release(); // idempotent
    const again = acquireRunLock(dir);
    again.release();
  });

  it('takes over a stale lock (its process is gone) and says so', () => {
    const dir = tempDir();
    const pid = deadPid();
    expect(processAlive(pid)).toBe(false);
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host: hostname(), startedAt: '2026-01-01T00:00:00.000Z' }));
    const lock = acquireRunLock(dir);
    expect(lock.tookOver).toEqual({ pid, host: hostname(), startedAt: '2026-01-01T00:00:00.000Z' });
    expect(takeoverLine(lock)).toBe(`${join(dir, LOCK_FILE)}: took over the stale lock of pid ${pid} (started 2026-01-01T00:00:00.000Z; no longer running)`);
    expect((JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as { pid: number }).pid).toBe(process.pid);
    lock.release();
  });

  it('replaces an unreadable lock; refuses one held on another host (its pid cannot be checked)', () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), 'garbage');
    const lock = acquireRunLock(dir);
    expect(takeoverLine(lock)).toBe(`${join(dir, LOCK_FILE)}: replaced an unreadable lock file`);
    lock.release();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid(), host: 'other-host', startedAt: 'then' }));
    expect(() => acquireRunLock(dir)).toThrow(/in use by another train-det \(pid \d+ on host other-host, since then;/);
  });

  it('release leaves a lock that is no longer its own', () => {
    const dir = tempDir();
    const lock = acquireRunLock(dir, () => false);
    const other = { pid: process.pid + 1, host: hostname(), startedAt: 'later' };
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify(other));
    lock.release();
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'))).toEqual(other);
  });
});
