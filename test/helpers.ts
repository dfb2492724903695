import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** ../shared beside the project, or $PSDET_SHARED. */
export const SHARED = process.env.PSDET_SHARED ?? join(ROOT, '..', 'shared');

/** The real COCO 2017 subset, or $PSDET_COCO_MINI; null when absent (tests needing it skip with a message). */
export const COCO_MINI: string | null = (() => {
  const dir = process.env.PSDET_COCO_MINI ?? join(SHARED, 'data', 'coco-mini');
  return existsSync(join(dir, 'annotations')) ? dir : null;
})();

export const COCO_MINI_SKIP = COCO_MINI === null ? 'coco-mini not found (set PSDET_COCO_MINI or place it at ../shared/data/coco-mini)' : '';

/**
 * Backends the backend tests cover: cpu and wasm by default (what CI has on any machine); $PSDET_BACKENDS
 * (comma-separated) widens or narrows the list, e.g. PSDET_BACKENDS=webgpu in .ci/webgpu.
 */
export function testBackends(): ('cpu' | 'wasm' | 'webgpu' | 'tensorflow')[] {
  return (process.env.PSDET_BACKENDS?.split(',') ?? ['cpu', 'wasm']) as ('cpu' | 'wasm' | 'webgpu' | 'tensorflow')[];
}

/** Runs one of the CLIs (src/cli/<script>) as a user would: through tsx, outside vitest's environment. */
export function runCli(script: string, args: string[], timeoutMs = 180_000): { status: number | null; stdout: string; stderr: string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli', script), ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
