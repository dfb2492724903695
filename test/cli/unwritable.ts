import { chmodSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A path under which this process cannot create anything: inside a chmod 0555 directory for a normal user; as root
 * (which ignores modes) under /sys, where no file or directory can be made. null when neither works here.
 */
export function unwritableDir(): string | null {
  if (process.getuid?.() !== 0) {
    const dir = mkdtempSync(join(tmpdir(), 'psdet-ro-'));
    chmodSync(dir, 0o555);
    return join(dir, 'out');
  }
  if (process.platform === 'linux' && existsSync('/sys/kernel')) return '/sys/kernel/psdet-out';
  return null;
}

export const UNWRITABLE_SKIP = 'no unwritable directory can be made here (root, and no /sys)';

/** Makes sure a writable scratch path exists (mkdir -p) and returns it. */
export function scratch(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}
