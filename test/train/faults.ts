import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';

/**
 * Real file-system faults for tests: a small tmpfs (a disk that fills up) or one remounted read-only. Mounting
 * needs root outside a sandbox; where it is refused, `mountTmpfs` returns the reason and the test that needs it
 * skips, saying so, while its twin driven by the injection preload (FAULTS_PRELOAD) still runs.
 */

export interface Mount {
  dir: string;
  /** Remounts it read-only (a disk that goes read-only under a running job); false when refused. */
  remountReadOnly(): boolean;
  unmount(): void;
}

/** Mounts a tmpfs of `sizeKiB` (read-only when asked) on a fresh directory, or returns why it cannot. */
export function mountTmpfs(sizeKiB: number, readOnly = false): Mount | string {
  if (process.platform !== 'linux') return `tmpfs mounts need Linux (this is ${process.platform})`;
  const dir = mkdtempSync(join(tmpdir(), 'psdet-tmpfs-'));
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k`, 'tmpfs', dir], { encoding: 'utf8' });
  if (mount.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return `mount -t tmpfs is not permitted here (${(mount.stderr || mount.error?.message || 'failed').trim()})`;
  }
  const unmount = (): void => {
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  };
  const remountReadOnly = (): boolean => spawnSync('mount', ['-o', 'remount,ro', dir]).status === 0;
  if (readOnly && !remountReadOnly()) {
    unmount();
    return 'remounting a tmpfs read-only is not permitted here';
  }
  return { dir, remountReadOnly, unmount };
}

/** `--import` this into a child process with PSDET_TEST_FS_FAULT set to inject file-system faults (see the file). */
export const FAULTS_PRELOAD = join(ROOT, 'test', 'train', 'fixtures', 'fs-faults.mjs');

/** The fault the preload injects. */
export interface FsFault {
  /** The errno name thrown (ENOSPC, EROFS, ...). */
  code: string;
  /** Paths that contain this string are affected. */
  path: string;
  /**
   * `write`: writes to files opened under `path` fail, from the (skip + 1)-th such file on (a disk that fills up).
   * `readonly`: creating, opening for writing, and access(W_OK) under `path` fail as on a read-only mount
   * (mkdir reports ENOENT there, as Node's recursive mkdir does on a read-only file system).
   */
  mode: 'write' | 'readonly';
  skip?: number;
}

export function faultEnv(fault: FsFault): Record<string, string> {
  return { PSDET_TEST_FS_FAULT: JSON.stringify(fault) };
}
