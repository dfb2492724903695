import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeCategoryList } from '../../src/data/categories.js';
import { categoriesOf, checkpointConfig, resolveModelSource } from '../../src/infer/load.js';

describe('resolveModelSource / checkpointConfig', () => {
  const work = mkdtempSync(join(tmpdir(), 'psdet-load-'));
  const ckpts = join(work, 'checkpoints');
  for (const name of ['model_0000010', 'model_0000020', 'model_0000030']) {
    mkdirSync(join(ckpts, name), { recursive: true });
    writeFileSync(join(ckpts, name, 'model.safetensors'), '');
  }
  writeFileSync(join(ckpts, 'last'), 'model_0000020\n');
  writeFileSync(join(work, 'config.json'), JSON.stringify({ name: 'tiny', model: { depth: 18, numClasses: 80 }, input: { testMinSize: 128 } }));
  mkdirSync(join(work, 'deploy'));
  writeFileSync(join(work, 'deploy', 'model.json'), '{}');
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('takes a checkpoint directory as is, and `last` of a checkpoints or work directory', () => {
    expect(resolveModelSource(join(ckpts, 'model_0000010'))).toEqual({
      kind: 'checkpoint',
      dir: join(ckpts, 'model_0000010'),
      weights: join(ckpts, 'model_0000010', 'model.safetensors'),
    });
    expect(resolveModelSource(ckpts).dir).toBe(join(ckpts, 'model_0000020'));
    expect(resolveModelSource(work).dir).toBe(join(ckpts, 'model_0000020'));
    expect(resolveModelSource(join(ckpts, 'last')).dir).toBe(join(ckpts, 'model_0000020')); // the pointer file itself
    expect(resolveModelSource(join(work, 'deploy')).kind).toBe('deploy');
  });

  it('names a missing or empty checkpoint path', () => {
    expect(() => resolveModelSource(join(work, 'nope'))).toThrow(`${join(work, 'nope')}: checkpoint not found`);
    mkdirSync(join(work, 'empty'));
    expect(() => resolveModelSource(join(work, 'empty'))).toThrow(/empty: holds no model.safetensors, model.json or model_NNNNNNN checkpoint/);
    expect(() => resolveModelSource(join(work, 'config.json'))).toThrow(/config.json: expected a checkpoint directory/);
  });

  it("finds the run's config.json two levels up and applies flag overrides", () => {
    const { config, source } = checkpointConfig(join(ckpts, 'model_0000020'), null, [{ input: { maxSize: 200 } }]);
    expect(source).toBe(join(work, 'config.json'));
    expect([config.name, config.model.depth, config.input.testMinSize, config.input.maxSize]).toEqual(['tiny', 18, 128, 200]);
    expect(() => checkpointConfig(join(tmpdir()), null)).toThrow(/no config.json in the checkpoint directory or the two above it; pass --config FILE/);
  });

  it('names the classes from the run\'s categories.json, else COCO\'s 80 or numbered', () => {
    const config = checkpointConfig(join(ckpts, 'model_0000010'), null).config; // numClasses 80
    const configPath = join(work, 'config.json');
    expect(categoriesOf(config, configPath).names[0]).toBe('person'); // no categories.json: COCO's 80
    writeCategoryList(work, Array.from({ length: 80 }, (_, k) => ({ id: 100 + k, name: `thing${k}` })));
    expect(categoriesOf(config, configPath)).toMatchObject({ ids: expect.arrayContaining([100, 179]) });
    expect(categoriesOf(config, configPath).names[79]).toBe('thing79');
    writeFileSync(join(work, 'categories.json'), '[{"id": "x", "name": "a"}]');
    expect(() => categoriesOf(config, configPath)).toThrow(/categories.json: index 0: field "id" must be an integer/);
  });
});

