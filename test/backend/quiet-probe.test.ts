import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { probeWebGpu } from '../../src/backend/webgpu.js';
import { ROOT, runCli } from '../helpers.js';
import { writeTinyCheckpoint } from '../infer/tiny-checkpoint.js';

/** What GPU drivers print on their own (Dawn, the Vulkan loader, Mesa): none of it may reach a quiet run's output. */
const DRIVER_CHATTER = /XDG_RUNTIME_DIR|shaderUniform|artificially reduced|While initializing adapter|BackendType::|PhysicalDevice|^Warning: |^error: /m;

function runNode(program: string): { status: number | null; stdout: string; stderr: string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('choosing a backend is quiet', () => {
  it('probeWebGpu finds an adapter or says why not, with the driver messages captured rather than printed', async () => {
    const probe = await probeWebGpu();
    if (probe.adapter === null) {
      expect(probe.why).toMatch(/^(no WebGPU adapter: .+|the webgpu package is not installed|the adapter probe .+)$/);
    } else {
      expect(probe.why).toBeNull();
      expect(typeof probe.adapter.software).toBe('boolean');
    }
    for (const line of probe.driverMessages) expect(line.trim()).not.toBe('');
  });

  it('selectBackend("auto") writes nothing to stderr and says why each backend before the chosen one was passed over', () => {
    const r = runNode(`
      import { describeBackend, selectBackend } from './src/backend/index.ts';
      const info = await selectBackend('auto');
      console.log(JSON.stringify({ line: describeBackend(info), name: info.name, skipped: info.skipped, driverMessages: info.driverMessages }));`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout) as { line: string; name: string; skipped: string[]; driverMessages: string[] };
    expect(info.line.split('\n')).toHaveLength(1);
    expect(info.line).toMatch(new RegExp(`^backend ${info.name} on `));
    const order = ['tensorflow', 'webgpu', 'wasm', 'cpu'];
    // every backend tried before the chosen one is named with its reason, in the line too
    expect(info.skipped.map((s) => s.split(':')[0])).toEqual(order.slice(0, order.indexOf(info.name)));
    for (const s of info.skipped) {
      const [name, why] = [s.slice(0, s.indexOf(':')), s.slice(s.indexOf(':') + 2)];
      expect(why.length).toBeGreaterThan(0);
      expect(info.line).toContain(`${name} (${why})`);
      expect(why).not.toMatch(/\/node_modules\/|\n/); // no paths of the install, one line
    }
    // the webgpu reason is ours, not the driver's words
    const webgpu = info.skipped.find((s) => s.startsWith('webgpu:'));
    if (webgpu !== undefined) expect(webgpu).not.toMatch(DRIVER_CHATTER);
  });

  it('infer-det --backend auto: the chosen-backend line and no driver chatter; --verbose adds what the drivers said', async () => {
    const work = mkdtempSync(join(tmpdir(), 'psdet-quiet-'));
    try {
      const ckpt = await writeTinyCheckpoint(work);
      const image = join(work, '000000000007.jpg');
      await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 90, g: 10, b: 10 } } }).jpeg().toFile(image);
      const run = (...extra: string[]) => runCli('infer-det.ts', [ckpt, image, '--out', join(work, 'out'), '--no-draw', '--backend', 'auto', ...extra], 120_000);
      const plain = run();
      expect(plain.status).toBe(0);
      const lines = plain.stderr.split('\n').filter((l) => l !== '');
      expect(lines[0]).toMatch(/^infer-det: backend \w+ on /);
      expect(lines.every((l) => l.startsWith('infer-det: '))).toBe(true);
      expect(plain.stderr).not.toMatch(DRIVER_CHATTER);
      const chosen = /^infer-det: backend (\w+) /.exec(lines[0]!)![1]!;
      if (chosen !== 'tensorflow') expect(lines[0]).toMatch(/; passed over: tensorflow \(/);
      if (chosen === 'wasm' || chosen === 'cpu') expect(lines[0]).toMatch(/, webgpu \([^)]+\)/);

      const verbose = run('--verbose');
      expect(verbose.status).toBe(0);
      const probe = await probeWebGpu();
      // the drivers' own lines come before ours, and only with --verbose
      const before = verbose.stderr.slice(0, verbose.stderr.indexOf('infer-det: backend '));
      expect(before.split('\n').filter((l) => l !== '')).toEqual(chosen === 'wasm' || chosen === 'cpu' ? probe.driverMessages : expect.any(Array));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
