import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTrainArgs, resolveTrainConfig } from '../../src/cli/train-args.js';
import { defaultConfig } from '../../src/config/defaults.js';
import { datasetSplitPaths } from '../../src/data/coco.js';
import { InputError } from '../../src/util/errors.js';
import { runCli } from '../helpers.js';

describe('a COCO dataset from any pair of paths', () => {
  it('--train-json/--train-images/--val-json/--val-images set the data fields', () => {
    const config = resolveTrainConfig(parseTrainArgs(['--train-json', '/a/train.json', '--train-images', '/a/img', '--val-json', '/b/val.json', '--val-images', '/b/img']));
    expect(config.data).toMatchObject({ trainAnnotationFile: '/a/train.json', trainImageDir: '/a/img', valAnnotationFile: '/b/val.json', valImageDir: '/b/img' });
    expect(datasetSplitPaths(config.data, 'train', null)).toEqual({ annotationFile: '/a/train.json', imageDir: '/a/img' });
    expect(datasetSplitPaths(config.data, 'val', '/root')).toEqual({ annotationFile: '/b/val.json', imageDir: '/b/img' });
  });

  it('falls back to the root layout for a split without its pair, and needs a root then', () => {
    const data = { ...defaultConfig().data, valAnnotationFile: '/b/val.json', valImageDir: '/b/img' };
    expect(datasetSplitPaths(data, 'train', '/coco')).toEqual({ annotationFile: join('/coco', 'annotations', 'instances_train2017.json'), imageDir: join('/coco', 'train2017') });
    expect(() => datasetSplitPaths(data, 'train', null)).toThrow(InputError);
  });

  it('a file without its folder is one line and exit 2', () => {
    const r = runCli('train-det.ts', ['--train-json', '/a/train.json', '--print-config']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('data.trainImageDir');
  });
});
