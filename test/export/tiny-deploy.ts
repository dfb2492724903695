import * as tf from '@tensorflow/tfjs-core';
import { requiredConvs, type DeploySpec, type DeployWeights } from '../../src/export/runtime.js';

/** A tiny deploy spec: basic blocks, one per stage, one head conv per tower, 3 classes. */
export function tinySpec(): DeploySpec {
  return {
    format: 'psdet-retinanet-deploy',
    version: 1,
    block: 'basic',
    stageBlocks: [1, 1, 1, 1],
    p6Input: 'p5',
    headDepth: 1,
    numClasses: 3,
    anchorSizes: [32, 64, 128, 256, 512],
    anchorScales: [1, 2 ** (1 / 3), 2 ** (2 / 3)],
    aspectRatios: [0.5, 1, 2],
    boxCoderWeights: [1, 1, 1, 1],
    scoreThreshold: 0.05,
    topkCandidates: 1000,
    nmsThreshold: 0.5,
    detectionsPerImage: 100,
    input: { minSize: 64, maxSize: 96, sizeDivisor: 32, pixelMean: [0.485, 0.456, 0.406], pixelStd: [0.229, 0.224, 0.225] },
    categories: { ids: [1, 2, 3], names: ['a', 'b', 'c'] },
  };
}

/** Random weights for `tinySpec()`: stem 4 channels, stages 4, 8, 8, 8, FPN and head 8 channels. */
export function tinyWeights(spec: DeploySpec, seed = 1): DeployWeights {
  const stage = [4, 8, 8, 8];
  const shapes: Record<string, [number, number, number]> = { 'backbone.stem.conv': [7, 3, 4] };
  let cin = 4;
  stage.forEach((c, s) => {
    shapes[`backbone.res${s + 2}.0.conv1`] = [3, cin, c];
    shapes[`backbone.res${s + 2}.0.conv2`] = [3, c, c];
    if (s > 0) shapes[`backbone.res${s + 2}.0.downsample.conv`] = [1, cin, c];
    cin = c;
  });
  for (const [l, c] of [[3, 8], [4, 8], [5, 8]] as const) {
    shapes[`fpn.lateral${l}`] = [1, c, 8];
    shapes[`fpn.output${l}`] = [3, 8, 8];
  }
  shapes['fpn.p6'] = [3, 8, 8];
  shapes['fpn.p7'] = [3, 8, 8];
  shapes['head.cls.tower.0'] = [3, 8, 8];
  shapes['head.box.tower.0'] = [3, 8, 8];
  shapes['head.cls.logits'] = [3, 8, 9 * spec.numClasses];
  shapes['head.box.deltas'] = [3, 8, 9 * 4];
  for (const name of requiredConvs(spec)) if (!(name in shapes)) throw new Error(`tinyWeights: no shape for ${name}`);
  const weights: DeployWeights = {};
  let s = seed;
  for (const [name, [k, i, o]] of Object.entries(shapes)) {
    weights[`${name}.weight`] = tf.randomNormal([k, k, i, o], 0, Math.sqrt(2 / (k * k * i)), 'float32', s++);
    weights[`${name}.bias`] = tf.randomNormal([o], 0, 0.1, 'float32', s++);
  }
  return weights;
}
