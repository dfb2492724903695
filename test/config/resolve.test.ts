import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import { parseAssignments, resolveConfig } from '../../src/config/resolve.js';

function writeTemp(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'psdet-config-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('resolveConfig', () => {
  it('applies defaults <- file <- flags in that order', () => {
    const path = writeTemp('tiny.json', JSON.stringify({ model: { depth: 18, norm: 'bn' }, solver: { baseLr: 0.02 } }));
    const config = resolveConfig(path, [{ model: { norm: 'psbn' } }, parseAssignments(['solver.baseLr=0.5'])]);
    expect(config.name).toBe('tiny');
    expect(config.model.depth).toBe(18); // file over default
    expect(config.model.norm).toBe('psbn'); // flag over file
    expect(config.solver.baseLr).toBe(0.5); // later flag over file
    expect(config.solver.momentum).toBe(defaultConfig().solver.momentum); // untouched default
  });

  it('names the file and field of an unknown key', () => {
    const path = writeTemp('bad.json', JSON.stringify({ model: { detph: 18 } }));
    expect(() => resolveConfig(path)).toThrow(`${path}: unknown field "model.detph"`);
  });

  it('rejects a wrong type or an unknown enum value', () => {
    const path = writeTemp('bad.json', JSON.stringify({ solver: { baseLr: '0.1' } }));
    expect(() => resolveConfig(path)).toThrow('field "solver.baseLr" must be a finite number');
    expect(() => resolveConfig(null, [{ model: { norm: 'gn' } }])).toThrow('field "model.norm" must be one of bn, frozen_bn, psbn');
  });

  it('reports malformed JSON with the file name', () => {
    const path = writeTemp('broken.json', '{"model": ');
    expect(() => resolveConfig(path)).toThrow(`${path}: malformed JSON`);
  });
});

describe('parseAssignments', () => {
  it('reads JSON values and falls back to strings', () => {
    expect(parseAssignments(['a.b=3', 'a.c=[1,2]', 'd=true', 'e=hello', 'f=null'])).toEqual({
      a: { b: 3, c: [1, 2] },
      d: true,
      e: 'hello',
      f: null,
    });
  });
});
