import { readdirSync, readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import type { Module } from '../../src/model/module.js';
import { listCheckpoints, loadCheckpoint, saveCheckpoint, type TrainingState } from '../../src/train/checkpoint.js';
import { Optimizer } from '../../src/train/optimizer.js';
import { writeFileDurable } from '../../src/train/tensor-file.js';
import { EnvironmentError } from '../../src/util/env-errors.js';
import { mountTmpfs, type Mount } from './faults.js';
import { ToyNet } from './toy.js';

const state = (iteration: number): TrainingState => ({ iteration, rng: [1, 2, 3, iteration], loader: {}, schedule: {} });

/** A node error as the file system raises it. */
function errno(code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated, write`), { code, syscall: 'write', path });
}

/** A module with one 1 MiB parameter (256 Ki floats): a checkpoint is 2 MiB with its SGD momentum. */
function bigModule(): Module & { w: tf.Variable } {
  const w = tf.variable(tf.fill([256, 1024], 0.5));
  return { w, params: () => [{ name: 'w', variable: w, kind: 'weight', trainable: true }], buffers: () => [], dispose: () => w.dispose() };
}

describe('checkpoints on a failing disk', () => {
  it('a write that fails (ENOSPC, injected through the writer) leaves no partial files and the previous checkpoint as last', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'psdet-ckpt-fault-'));
    const net = new ToyNet(1);
    const opt = new Optimizer(net.params(), defaultConfig().solver);
    await saveCheckpoint(dir, net, opt, state(4), 3);
    const full = (path: string, data: Uint8Array | string): void => {
      if (path.endsWith('optimizer.safetensors')) throw errno('ENOSPC', path);
      writeFileDurable(path, data);
    };
    const error = await saveCheckpoint(dir, net, opt, state(8), 3, { writeFile: full }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as Error).message).toBe(`cannot write ${join(dir, 'model_0000008')}: no space left on device`);
    expect(readdirSync(dir).sort()).toEqual(['last', 'model_0000004']);
    expect(readFileSync(join(dir, 'last'), 'utf8')).toBe('model_0000004\n');
    expect(loadCheckpoint(join(dir, 'model_0000004'), net, opt).iteration).toBe(4);
    // a failure writing the pointer: the new checkpoint is complete, `last` still names the old one, no temp left
    const pointerFails = (path: string, data: Uint8Array | string): void => {
      if (path.includes('.tmp-last-')) throw errno('EDQUOT', path);
      writeFileDurable(path, data);
    };
    await expect(saveCheckpoint(dir, net, opt, state(12), 3, { writeFile: pointerFails })).rejects.toThrow('disk quota exceeded');
    expect(readdirSync(dir).sort()).toEqual(['last', 'model_0000004', 'model_0000012']);
    expect(readFileSync(join(dir, 'last'), 'utf8')).toBe('model_0000004\n');
    // anything else is not an environment error and passes through unchanged
    const bug = (): void => {
      throw new TypeError('a bug');
    };
    await expect(saveCheckpoint(dir, net, opt, state(16), 3, { writeFile: bug })).rejects.toThrow(TypeError);
    expect(readdirSync(dir).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    opt.dispose();
    net.dispose();
  });

  const small = mountTmpfs(5120); // 5 MiB: room for two checkpoints of 2 MiB (weights + momentum), not three
  const readOnly = mountTmpfs(1024);
  afterAll(() => {
    if (typeof small !== 'string') small.unmount();
    if (typeof readOnly !== 'string') readOnly.unmount();
  });
  const skipped = (m: Mount | string): string => (typeof m === 'string' ? ` (skipped: ${m})` : '');

  it.skipIf(typeof small === 'string')(`a real full disk (a 5 MiB tmpfs): ENOSPC as one error, every complete checkpoint intact${skipped(small)}`, async () => {
    const dir = join((small as Mount).dir, 'checkpoints');
    const net = bigModule();
    const opt = new Optimizer(net.params(), defaultConfig().solver);
    const saved: number[] = [];
    let error: unknown = null;
    for (let it = 1; it <= 5 && error === null; it++) {
      net.w.assign(tf.fill([256, 1024], it));
      await saveCheckpoint(dir, net, opt, state(it), 5).then(
        () => saved.push(it),
        (e: unknown) => (error = e),
      );
    }
    expect(saved).toEqual([1, 2]);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect(error).toMatchObject({ code: 'ENOSPC', message: `cannot write ${join(dir, 'model_0000003')}: no space left on device` });
    expect(readdirSync(dir).sort()).toEqual(['last', 'model_0000001', 'model_0000002']);
    expect(listCheckpoints(dir).map((c) => c.iteration)).toEqual([1, 2]);
    expect(loadCheckpoint(join(dir, 'model_0000002'), net, opt).iteration).toBe(2);
    expect((await net.w.data()).every((v) => v === 2)).toBe(true);
    opt.dispose();
    net.dispose();
  });

  it.skipIf(typeof readOnly === 'string')(`a disk remounted read-only under the run (tmpfs remounted ro): EROFS as one error, the previous checkpoint intact${skipped(readOnly)}`, async () => {
    const mount = readOnly as Mount;
    const dir = join(mount.dir, 'checkpoints');
    const net = new ToyNet(1);
    const opt = new Optimizer(net.params(), defaultConfig().solver);
    await saveCheckpoint(dir, net, opt, state(1), 3);
    expect(mount.remountReadOnly()).toBe(true);
    await expect(saveCheckpoint(dir, net, opt, state(2), 3)).rejects.toThrow(new EnvironmentError(`cannot write ${dir}: read-only file system`, 'EROFS', dir));
    expect(readdirSync(dir).sort()).toEqual(['last', 'model_0000001']);
    expect(loadCheckpoint(join(dir, 'model_0000001'), net, opt).iteration).toBe(1);
    opt.dispose();
    net.dispose();
  });
});
