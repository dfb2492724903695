import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import {
  checkpointName,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  resolveResume,
  saveCheckpoint,
  type TrainingState,
} from '../../src/train/checkpoint.js';
import { Optimizer } from '../../src/train/optimizer.js';
import { encodeTensors } from '../../src/train/tensor-file.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';
import { ROOT } from '../helpers.js';
import { fillIteration, killModel, killState, snapshot } from './fixtures/kill-model.js';
import { ToyNet } from './toy.js';

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'psdet-ckpt-'));

/** Runs test/train/fixtures/checkpoint-writer.ts on `dir` (see there for KILL_AT and MODE). */
function runWriter(dir: string, killAt: string, mode = 'before'): Promise<{ signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/train/fixtures/checkpoint-writer.ts'), dir, killAt, mode], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => (code !== 0 && signal === null ? reject(new Error(`writer exited ${code}: ${stderr}`)) : resolve({ signal, stdout, stderr })));
  });
}

/** Runs `job` on every item, at most `limit` at a time. */
async function inParallel<T>(items: T[], limit: number, job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await job(items[next++]!);
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

/** What a checkpoint of `iteration` written by the kill writer holds. */
function expectedSnapshot(iteration: number): Record<string, number[]> {
  const m = killModel();
  fillIteration(m, iteration);
  const out = snapshot(m);
  m.dispose();
  return out;
}

function state(iteration: number): TrainingState {
  return { iteration, rng: [1, 2, 3, iteration], loader: { epoch: 0, cursor: iteration }, schedule: { baseLr: 0.01 } };
}

describe('checkpoint tensor files', () => {
  it('writes tensors in the safetensors layout, names sorted, and reads them back bit for bit', async () => {
    const a = tf.tensor2d([[1.5, -2], [Math.PI, 1e-30]]);
    const b = tf.tensor1d([7, -8], 'int32');
    const bytes = Buffer.from(await encodeTensors({ b, a }, { format: 'x' }));
    // 8-byte little-endian header length, then a JSON header padded to a multiple of 8
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(headerLength % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString()) as Record<string, unknown>;
    // names sorted: a (4 floats = 16 bytes) first, then b (2 int32 = 8 bytes)
    expect(header.a).toEqual({ dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] });
    expect(header.b).toEqual({ dtype: 'I32', shape: [2], data_offsets: [16, 24] });
    expect(header.__metadata__).toEqual({ format: 'x' });
    expect(bytes.byteLength).toBe(8 + headerLength + 24);
    const back = parseSafetensors(bytes, 'mem');
    expect(Array.from(back.tensors.get('a')!.values)).toEqual(Array.from(a.dataSync()));
    expect(Array.from(back.tensors.get('b')!.values)).toEqual([7, -8]);
    expect(() => parseSafetensors(bytes.subarray(0, 40), 'cut.safetensors')).toThrow('cut.safetensors');
    tf.dispose([a, b]);
  });
});

describe('checkpoints', () => {
  it('save and load restore parameters, buffers, optimizer state and training state', async () => {
    const dir = tempDir();
    const net = new ToyNet(1);
    const opt = new Optimizer(net.params(), { ...defaultConfig().solver, optimizer: 'adam' });
    const g = Object.fromEntries(net.params().map((p) => [p.variable.name, tf.onesLike(p.variable)]));
    opt.step(g, 0.1);
    net.runningMean.assign(tf.tensor1d([1, 2, 3, 4]));
    const path = await saveCheckpoint(dir, net, opt, state(12), 3);
    expect(path).toBe(join(dir, 'model_0000012'));
    expect(readdirSync(path).sort()).toEqual(['model.safetensors', 'optimizer.safetensors', 'state.json']);
    expect(readFileSync(join(dir, 'last'), 'utf8')).toBe('model_0000012\n');

    const other = new ToyNet(2);
    const otherOpt = new Optimizer(other.params(), { ...defaultConfig().solver, optimizer: 'adam' });
    const restored = loadCheckpoint(path, other, otherOpt);
    expect(restored).toMatchObject(state(12));
    expect(Array.from(other.conv1.dataSync())).toEqual(Array.from(net.conv1.dataSync()));
    expect(Array.from(other.runningMean.dataSync())).toEqual([1, 2, 3, 4]);
    expect(otherOpt.state().steps).toEqual(opt.state().steps);
    const key = 'exp_avg_sq.conv1.weight';
    expect(Array.from(otherOpt.state().tensors[key]!.dataSync())).toEqual(Array.from(opt.state().tensors[key]!.dataSync()));
    tf.dispose(Object.values(g));
    [opt, otherOpt, net, other].forEach((x) => x.dispose());
  });

  it('keeps the newest K checkpoints and names them by completed iterations', async () => {
    const dir = tempDir();
    const net = new ToyNet(1);
    const opt = new Optimizer(net.params(), defaultConfig().solver);
    for (const it of [5, 10, 15, 20]) await saveCheckpoint(dir, net, opt, state(it), 2);
    expect(listCheckpoints(dir).map((c) => c.name)).toEqual(['model_0000015', 'model_0000020']);
    expect(latestCheckpoint(dir)).toBe(join(dir, 'model_0000020'));
    expect(checkpointName(90000)).toBe('model_0090000');
    opt.dispose();
    net.dispose();
  });

  it('survives a crash between writing the files and the rename', async () => {
    const dir = tempDir();
    const net = new ToyNet(1);
    const opt = new Optimizer(net.params(), defaultConfig().solver);
    await saveCheckpoint(dir, net, opt, state(4), 3);
    const crash = (): void => {
      throw new Error('simulated crash');
    };
    await expect(saveCheckpoint(dir, net, opt, state(8), 3, { beforeCommit: crash })).rejects.toThrow('simulated crash');
    // the half-written checkpoint is removed and was never visible: last and auto-resume still give iteration 4
    expect(readdirSync(dir).some((n) => n.startsWith('.tmp-'))).toBe(false);
    expect(readFileSync(join(dir, 'last'), 'utf8').trim()).toBe('model_0000004');
    expect(resolveResume('auto', dir)).toBe(join(dir, 'model_0000004'));
    expect(loadCheckpoint(resolveResume('auto', dir)!, net, opt).iteration).toBe(4);
    // a pointer to a missing checkpoint falls back to the newest complete one
    writeFileSync(join(dir, 'last'), 'model_0000099\n');
    expect(latestCheckpoint(dir)).toBe(join(dir, 'model_0000004'));
    opt.dispose();
    net.dispose();
  });

  it('after a SIGKILL at any file-system change of a save, the work dir loads as exactly the previous or the new checkpoint', async () => {
    // The writer (fixtures/checkpoint-writer.ts) saves iterations 1 and 2, then kills itself just before change
    // number k of the save of iteration 3 (every mkdir, open for writing, write, rename, rm, unlink), or in the
    // middle of a write ("torn"). One run without a kill lists the changes, so every point is covered.
    const listing = await runWriter(tempDir(), 'none');
    expect(listing.signal, listing.stderr).toBeNull();
    const changes = JSON.parse(listing.stdout) as string[];
    // the save writes the three files and replaces the pointer
    for (const file of ['model.safetensors', 'optimizer.safetensors', 'state.json', 'DIR/last']) expect(changes.join('\n')).toContain(file);
    const points = [
      ...changes.map((change, k) => ({ k, mode: 'before' as const, change })),
      ...changes.flatMap((change, k) => (change.startsWith('writeSync') ? [{ k, mode: 'torn' as const, change }] : [])),
    ];
    const expected = { 2: expectedSnapshot(2), 3: expectedSnapshot(3) };
    const loaded: Record<string, number> = {};
    await inParallel(points, 2, async ({ k, mode, change }) => {
      const dir = tempDir();
      const run = await runWriter(dir, String(k), mode);
      const point = `kill ${mode} change ${k} (${change})`;
      expect(run.signal, `${point}: ${run.stderr}`).toBe('SIGKILL');
      expect(run.stderr, point).toContain(`kill at change ${k}: `);
      const m = killModel();
      const latest = resolveResume('auto', dir);
      expect(latest, `${point}: no checkpoint found`).not.toBeNull();
      const state = loadCheckpoint(latest!, m.model, m.optimizer);
      expect([2, 3], point).toContain(state.iteration);
      expect(state, point).toEqual(killState(state.iteration));
      expect(snapshot(m), point).toEqual(expected[state.iteration as 2 | 3]);
      loaded[`${mode} ${k}`] = state.iteration;
      // the next save in the same dir succeeds and clears what the killed one left behind
      fillIteration(m, 4);
      await saveCheckpoint(dir, m.model, m.optimizer, killState(4), 2);
      expect(readdirSync(dir).filter((n) => n.startsWith('.tmp-')), point).toEqual([]);
      expect(latestCheckpoint(dir), point).toBe(join(dir, 'model_0000004'));
      m.dispose();
      rmSync(dir, { recursive: true, force: true });
    });
    // until `last` is replaced the previous checkpoint is what loads (even once the new directory is in place)
    const commit = changes.findIndex((c) => c.endsWith(' -> DIR/last'));
    for (const { k, mode } of points) expect(loaded[`${mode} ${k}`], `${mode} ${k}`).toBe(k <= commit ? 2 : 3);
  });

  it('resolves --resume paths and rejects ones without a checkpoint', async () => {
    const dir = tempDir();
    expect(resolveResume('auto', join(dir, 'checkpoints'))).toBeNull();
    expect(() => resolveResume(join(dir, 'nope'), dir)).toThrow(`--resume: ${join(dir, 'nope')} does not exist`);
    expect(() => resolveResume(dir, dir)).toThrow('holds no checkpoint');
    const net = new ToyNet(1);
    const opt = new Optimizer(net.params(), defaultConfig().solver);
    const path = await saveCheckpoint(join(dir, 'checkpoints'), net, opt, state(3), 3);
    expect(resolveResume(path, dir)).toBe(path);
    expect(resolveResume(dir, dir)).toBe(path); // a work dir: its checkpoints/ latest
    opt.dispose();
    net.dispose();
  });

  it('names the file and tensor when a checkpoint does not fit the model', async () => {
    const dir = tempDir();
    const net = new ToyNet(1);
    const opt = new Optimizer(net.params(), defaultConfig().solver);
    const path = await saveCheckpoint(dir, net, opt, state(3), 3);
    const bigger = { ...net, params: () => [...net.params(), { name: 'extra.weight', variable: net.conv1, kind: 'weight' as const, trainable: false }], buffers: () => net.buffers(), dispose: () => undefined };
    expect(() => loadCheckpoint(path, bigger, opt)).toThrow(`${join(path, 'model.safetensors')}: tensor "extra.weight" is missing`);
    writeFileSync(join(path, 'state.json'), '{"format": "other"}');
    expect(() => loadCheckpoint(path, net, opt)).toThrow('field "format" is "other"');
    opt.dispose();
    net.dispose();
  });
});
