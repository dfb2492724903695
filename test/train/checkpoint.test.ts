import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
import { parseSafetensors, readSafetensors } from '../../src/weights/safetensors.js';
import { ROOT } from '../helpers.js';
import { ToyNet } from './toy.js';

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'psdet-ckpt-'));

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

  it('survives SIGKILL of a process in the middle of writing checkpoints', async () => {
    const dir = tempDir();
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/train/fixtures/checkpoint-writer.ts'), dir], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // wait for two complete checkpoints, then kill at a moment that is very likely mid-write (16 MiB files)
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('saved 2\n')) resolve();
      });
      child.on('exit', () => reject(new Error(`writer exited early: ${stderr}`)));
    });
    await new Promise((r) => setTimeout(r, 37));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));

    const latest = resolveResume('auto', dir);
    expect(latest).not.toBeNull();
    const iteration = (JSON.parse(readFileSync(join(latest!, 'state.json'), 'utf8')) as { iteration: number }).iteration;
    expect(iteration).toBeGreaterThanOrEqual(2);
    // every value of the weight equals the checkpoint's iteration: the files are complete, not torn
    const w = readSafetensors(join(latest!, 'model.safetensors')).tensors.get('w')!;
    expect(w.values.length).toBe(1024 * 4096);
    expect((w.values as Float32Array).every((v) => v === iteration)).toBe(true);
    expect(existsSync(join(latest!, 'optimizer.safetensors'))).toBe(true);
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
