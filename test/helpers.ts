import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** ../shared beside the project, or $PSDET_SHARED. */
export const SHARED = process.env.PSDET_SHARED ?? join(ROOT, '..', 'shared');

/**
 * How a test that needs something optional (torchvision, coco-mini, the pycocotools fixtures) handles its absence:
 * '' when `present`; otherwise `skipped: <why>`, for the test or describe title, so a skip always says why. When
 * the environment variable `requireVar` is 1 (`.ci/run` sets it where the thing must be there), an absence is an
 * error instead, which fails the test file: CI cannot go green by skipping.
 */
export function skipReason(present: boolean, why: string, requireVar: string): string {
  if (present) return '';
  if (process.env[requireVar] === '1') throw new Error(`${why}; ${requireVar}=1 requires it, so the tests that need it fail instead of skipping`);
  return `(skipped: ${why})`;
}

/** The real COCO 2017 subset, or $PSDET_COCO_MINI; null when absent (tests needing it skip with a message). */
export const COCO_MINI: string | null = (() => {
  const dir = process.env.PSDET_COCO_MINI ?? join(SHARED, 'data', 'coco-mini');
  return existsSync(join(dir, 'annotations')) ? dir : null;
})();

/** '' when coco-mini is here, else why its tests skip; throws when PSDET_REQUIRE_COCO_MINI=1. */
export function cocoMiniSkip(): string {
  return skipReason(COCO_MINI !== null, 'coco-mini not found (set PSDET_COCO_MINI or place it at ../shared/data/coco-mini)', 'PSDET_REQUIRE_COCO_MINI');
}

/** pycocotools' reference results (../shared/fixtures/cocoeval). */
export const COCOEVAL_FIXTURES = join(SHARED, 'fixtures', 'cocoeval');

/** One pycocotools 2.0.11 reference case of ../shared/fixtures/cocoeval/cases.json; `gt` / `dt` are relative to it. */
export interface CocoevalCase {
  name: string;
  gt: string;
  dt: string;
  params: { useCats: number };
  stats: number[];
  perCategoryAP: Record<string, number>;
}

/** The pycocotools reference cases with their files' absolute paths; [] when absent (see cocoevalFixturesSkip). */
export function cocoevalCases(): (CocoevalCase & { gtPath: string; dtPath: string })[] {
  const path = join(COCOEVAL_FIXTURES, 'cases.json');
  if (!existsSync(path)) return [];
  const { cases } = JSON.parse(readFileSync(path, 'utf8')) as { cases: CocoevalCase[] };
  return cases.map((c) => ({ ...c, gtPath: join(COCOEVAL_FIXTURES, c.gt), dtPath: join(COCOEVAL_FIXTURES, c.dt) }));
}

/** '' when the pycocotools fixtures are here, else why their tests skip; throws when PSDET_REQUIRE_COCOEVAL_FIXTURES=1. */
export function cocoevalFixturesSkip(): string {
  return skipReason(
    existsSync(join(COCOEVAL_FIXTURES, 'cases.json')),
    `pycocotools fixtures not found at ${COCOEVAL_FIXTURES} (set PSDET_SHARED)`,
    'PSDET_REQUIRE_COCOEVAL_FIXTURES',
  );
}

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
