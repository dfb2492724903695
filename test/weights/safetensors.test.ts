import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/util/errors.js';
import { halfToFloat, parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors } from '../../src/weights/safetensors.js';
import { ROOT } from '../helpers.js';
import { HAS_TORCHVISION, PYTHON, torchvisionSkip } from '../model/parity-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'psdet-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Builds a file by hand: header JSON, then the given data bytes. */
function handMade(header: object, data: number[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips F32 and I32 tensors with metadata, header padded to 8 bytes', () => {
    const path = join(dir, 'a.safetensors');
    writeSafetensors(
      path,
      {
        'a.weight': { shape: [2, 3], values: Float32Array.from([1, -2, 3.5, 0, 1e-8, -0]) },
        count: { shape: [], values: Int32Array.from([7]) },
        empty: { shape: [0, 4], values: new Float32Array(0) },
      },
      { format: 'pt' },
    );
    const bytes = readFileSync(path);
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    const file = readSafetensors(path);
    expect(file.metadata).toEqual({ format: 'pt' });
    expect([...file.tensors.keys()]).toEqual(['a.weight', 'count', 'empty']);
    const a = file.tensors.get('a.weight')!;
    expect(a.dtype).toBe('F32');
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.values)).toEqual([1, -2, 3.5, 0, Math.fround(1e-8), -0]);
    expect(file.tensors.get('count')).toEqual({ dtype: 'I32', shape: [], values: Int32Array.from([7]) });
    expect(file.tensors.get('empty')!.values.length).toBe(0);
  });

  it('reads F16, BF16, F64 and I64 (little-endian, by hand)', () => {
    // F16 0x3c00 = 1, 0xc000 = -2, 0x0001 = 2^-24 (smallest subnormal); BF16 0x3f80 = 1.0; F64 0.1; I64 -3 and 2^31 - 1.
    const f64 = new Uint8Array(new Float64Array([0.1]).buffer);
    const i64 = new Uint8Array(new BigInt64Array([-3n, 2147483647n]).buffer);
    const bytes = handMade(
      {
        h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
        b: { dtype: 'BF16', shape: [1], data_offsets: [6, 8] },
        d: { dtype: 'F64', shape: [1], data_offsets: [8, 16] },
        n: { dtype: 'I64', shape: [2], data_offsets: [16, 32] },
      },
      [0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x80, 0x3f, ...f64, ...i64],
    );
    const t = parseSafetensors(bytes).tensors;
    expect(Array.from(t.get('h')!.values)).toEqual([1, -2, 2 ** -24]);
    expect(Array.from(t.get('b')!.values)).toEqual([1]);
    expect(t.get('d')!.values[0]).toBeCloseTo(0.1, 7);
    expect(Array.from(t.get('n')!.values)).toEqual([-3, 2147483647]);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0x7bff)).toBe(65504);
  });

  it('rejects damaged files with one-line errors naming the file and the tensor', () => {
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(4), /bad\.st: not a safetensors file \(4 bytes/],
      [handMade({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, [0, 0, 0, 0]), /bad\.st: tensor "x": data_offsets \[0, 4\] hold 4 bytes, shape \[2\] of F32 needs 8/],
      [handMade({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, [0, 0, 0, 0]), /tensor "x": data_offsets \[0, 8\] run past the data \(4 bytes\)/],
      [handMade({ x: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, []), /tensor "x": unsupported dtype "C64"/],
      [handMade({ x: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, [0, 0, 0, 0, 1, 0, 0, 0]), /does not fit int32/],
    ];
    for (const [bytes, message] of cases) {
      expect(() => parseSafetensors(bytes, 'bad.st')).toThrow(InputError);
      expect(() => parseSafetensors(bytes, 'bad.st')).toThrow(message);
    }
    const broken = serializeSafetensors({ x: { shape: [1], values: Float32Array.from([1]) } });
    broken[9] = 0x21; // corrupt the JSON
    expect(() => parseSafetensors(broken, 'bad.st')).toThrow(/bad\.st: malformed header JSON/);
    expect(() => readSafetensors(join(dir, 'nope.safetensors'))).toThrow(/nope\.safetensors: cannot read weights file \(ENOENT\)/);
  });

  it.skipIf(!HAS_TORCHVISION)(`agrees with the python writer of tools/ both ways (torch float16, int64, float32) ${torchvisionSkip()}`, () => {
    const fromPython = join(dir, 'py.safetensors');
    const fromUs = join(dir, 'js.safetensors');
    writeSafetensors(fromUs, { w: { shape: [2, 2], values: Float32Array.from([1.5, -2, 0.25, 8]) } });
    const script = [
      'import sys, torch',
      `sys.path.insert(0, ${JSON.stringify(join(ROOT, 'tools'))})`,
      'from safetensors_io import save_file, load_file',
      `t = load_file(${JSON.stringify(fromUs)})`,
      'assert t["w"].tolist() == [[1.5, -2.0], [0.25, 8.0]], t',
      `save_file({"h": torch.tensor([0.5, -1.0], dtype=torch.float16), "n": torch.tensor(12, dtype=torch.int64), "f": t["w"] * 2}, ${JSON.stringify(fromPython)})`,
    ].join('\n');
    writeFileSync(join(dir, 'check.py'), script);
    execFileSync(PYTHON, [join(dir, 'check.py')]);
    const file = readSafetensors(fromPython);
    expect(Array.from(file.tensors.get('h')!.values)).toEqual([0.5, -1]);
    expect(file.tensors.get('n')).toEqual({ dtype: 'I64', shape: [], values: Int32Array.from([12]) });
    expect(Array.from(file.tensors.get('f')!.values)).toEqual([3, -4, 0.5, 16]);
  });
});
