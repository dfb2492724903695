import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isWasmHeapExhausted, wasmHeapMessage } from '../../src/backend/wasm-heap.js';
import { oneLineError, prepareOutputDir } from '../../src/cli/exit.js';
import { InputError } from '../../src/util/errors.js';
import { ROOT } from '../helpers.js';
import { UNWRITABLE_SKIP, unwritableDir } from './unwritable.js';

const UNWRITABLE = unwritableDir();
const UNWRITABLE_TITLE = UNWRITABLE === null ? ` (skipped: ${UNWRITABLE_SKIP})` : '';
const DEV_FULL_TITLE = existsSync('/dev/full') ? '' : ' (skipped: no /dev/full here)';

const work = mkdtempSync(join(tmpdir(), 'psdet-exit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('oneLineError', () => {
  it.skipIf(UNWRITABLE === null)(`names the path and the reason of a real failed mkdir${UNWRITABLE_TITLE}`, () => {
    const err = thrown(() => mkdirSync(join(UNWRITABLE!, 'sub'), { recursive: true }));
    expect(oneLineError(err)).toMatch(/^cannot write \/\S+: (permission denied|operation not permitted|read-only file system)$/);
  });

  it.skipIf(DEV_FULL_TITLE !== '')(`names the output directory for ENOSPC on an open file (no path in the error)${DEV_FULL_TITLE}`, () => {
    const err = thrown(() => writeFileSync('/dev/full', 'x'));
    expect((err as NodeJS.ErrnoException).path).toBeUndefined();
    expect(oneLineError(err, '/data/out')).toBe('cannot write under /data/out: no space left on device');
  });

  it('leaves bugs alone: a plain Error, a TypeError or a missing program is not an environment error', () => {
    expect(oneLineError(new TypeError('x is undefined'))).toBeNull();
    expect(oneLineError(new Error('boom'))).toBeNull();
    expect(oneLineError(Object.assign(new Error('spawn nope ENOENT'), { code: 'ENOENT', syscall: 'spawn nope', path: 'nope' }))).toBeNull();
    expect(oneLineError(new InputError('a.json: index 1: field "bbox": bad\nmore'))).toBe('a.json: index 1: field "bbox": bad');
  });
});

describe('prepareOutputDir', () => {
  it('creates a writable directory and leaves no probe file behind', () => {
    const dir = join(work, 'fresh', 'out');
    prepareOutputDir(dir);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.skipIf(UNWRITABLE === null)(`a directory that cannot be written is one InputError naming the flag, the path and the reason${UNWRITABLE_TITLE}`, () => {
    const dir = UNWRITABLE!;
    const err = thrown(() => prepareOutputDir(dir));
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(new RegExp(`^--out ${dir}: cannot write .*: (permission denied|operation not permitted|read-only file system)$`));
  });
});

/** A real WebAssembly RuntimeError: a module whose one function loads from past the end of its 1-page memory. */
function realWasmOutOfBounds(): Error {
  // (module (memory 1) (func (export "f") (result i32) (i32.load (i32.const 70000))))
  const bytes = Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00,
    0x01, 0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, 0x0a, 0x0b, 0x01, 0x09, 0x00, 0x41, 0xf0, 0xa2, 0x04, 0x28, 0x02, 0x00, 0x0b,
  ]);
  const wasm = (globalThis as unknown as { WebAssembly: { Module: new (b: Uint8Array) => object; Instance: new (m: object) => { exports: { f: () => number } } } }).WebAssembly;
  const instance = new wasm.Instance(new wasm.Module(bytes));
  return thrown(() => instance.exports.f()) as Error;
}

describe('wasm heap exhaustion', () => {
  it('is recognised from the RuntimeErrors the wasm backend throws, only while wasm is the backend', () => {
    const oob = realWasmOutOfBounds();
    expect(oob.name).toBe('RuntimeError');
    expect(oob.message).toBe('memory access out of bounds');
    expect(isWasmHeapExhausted(oob, 'wasm')).toBe(true);
    expect(isWasmHeapExhausted(oob, 'cpu')).toBe(false);
    // emscripten's abort() (a failed malloc in XNNPACK) throws this one.
    const RuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: new (m: string) => Error } }).WebAssembly.RuntimeError;
    expect(isWasmHeapExhausted(new RuntimeError('Aborted(). Build with -sASSERTIONS for more info.'), 'wasm')).toBe(true);
    expect(isWasmHeapExhausted(new RuntimeError('unreachable'), 'wasm')).toBe(false);
    expect(isWasmHeapExhausted(new Error('memory access out of bounds'), 'wasm')).toBe(false);
    expect(wasmHeapMessage(3.9 * 2 ** 30)).toBe(
      "the wasm backend ran out of memory: WebAssembly's heap stops at 4 GiB (3.9 GiB held when it failed); use a smaller input " +
        '(input.trainMinSizes, input.testMinSize, input.maxSize) or batch size, or a GPU backend (--backend tensorflow or webgpu; docs/gpu.md)',
    );
  });

  it('a command whose tensor outgrows the wasm heap ends with that one line and exit code 2', () => {
    // A tile of 2^32 + 64 bytes: past wasm32's address space, so the backend writes out of bounds at once.
    const program = `
      import * as tf from '@tensorflow/tfjs-core';
      import { selectBackend } from './src/backend/index.ts';
      import { exitOnError } from './src/cli/exit.ts';
      await selectBackend('wasm');
      try {
        tf.tile(tf.ones([1, 16]), [2 ** 26 + 1, 1]);
        console.log('no error');
      } catch (err) {
        exitOnError('demo', err);
      }`;
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^demo: the wasm backend ran out of memory: WebAssembly's heap stops at 4 GiB; use a smaller input .* or a GPU backend .*\n$/);
    expect(r.status).toBe(2);
  });
});
