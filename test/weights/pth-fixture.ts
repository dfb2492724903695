import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers.js';
import { PYTHON, parityFixture, torchvisionSkip } from '../model/parity-fixture.js';

/**
 * Checkpoints written by torch.save (tools/make_pth_fixtures.py) in .fixtures/pth, regenerated when absent, written
 * by another version of the script, or when $PSDET_REGENERATE is set. Without torch the tests skip, saying why;
 * with PSDET_REQUIRE_TORCHVISION=1 (CI) a missing torch is an error instead.
 */
export const PTH_DIR = join(ROOT, '.fixtures', 'pth');
const GENERATOR = join(ROOT, 'tools', 'make_pth_fixtures.py');

/** '' with torch present; else why the torch.save tests skip (and an error under PSDET_REQUIRE_TORCHVISION=1). */
export const PTH_SKIP = torchvisionSkip();

export interface PthManifest {
  scriptSha256: string;
  parity: boolean;
  torch: string;
  /** sha256 of each NAME.pth as Python's hashlib computed it. */
  sha256: Record<string, string>;
}

/** Generates (when needed) and returns the manifest; the files are PTH_DIR/NAME.pth and NAME.safetensors. */
export function pthFixtures(): PthManifest {
  const parity = join(ROOT, '.fixtures', 'parity-small', 'weights.safetensors');
  parityFixture('small');
  const manifestPath = join(PTH_DIR, 'manifest.json');
  const script = createHash('sha256').update(readFileSync(GENERATOR)).digest('hex');
  const current = existsSync(manifestPath) && (JSON.parse(readFileSync(manifestPath, 'utf8')) as PthManifest).scriptSha256 === script;
  if (!current || process.env.PSDET_REGENERATE !== undefined) {
    execFileSync(PYTHON, [GENERATOR, '--out', PTH_DIR, '--parity', parity], { stdio: 'inherit' });
  }
  return JSON.parse(readFileSync(manifestPath, 'utf8')) as PthManifest;
}

/** The raw tensors of a safetensors file, read here independently of src/: {name: {dtype, shape, bytes}}. */
export function referenceTensors(path: string): Map<string, { dtype: string; shape: number[]; bytes: Uint8Array }> {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, { dtype: string; shape: number[]; bytes: Uint8Array }>();
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    out.set(name, { dtype: e.dtype, shape: e.shape, bytes: bytes.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]) });
  }
  return out;
}
