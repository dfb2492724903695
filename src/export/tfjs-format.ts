import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { DeploySpec, DeployWeights } from './runtime.js';

/** tfjs-converter's shard size: 4 MiB per binary file. */
export const SHARD_BYTES = 4 * 1024 * 1024;

/**
 * `model.json` of an exported deploy model: tfjs' weights-manifest layout (the one `tf.io.loadWeights` and
 * `tf.io.decodeWeights` read) plus the deploy spec under `psdet`.
 */
export interface DeployModelJson {
  format: 'psdet-retinanet-deploy';
  generatedBy: string;
  psdet: DeploySpec;
  weightsManifest: tf.io.WeightsManifestConfig;
}

/**
 * Writes `model.json` and `group1-shard{i}of{n}.bin` (float32, little-endian, weights in name order, split at
 * `shardBytes`) into `dir`. Returns the paths written.
 */
export async function writeTfjsDeployModel(
  dir: string,
  spec: DeploySpec,
  weights: DeployWeights,
  shardBytes = SHARD_BYTES,
): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const names = Object.keys(weights).sort();
  const { data, specs } = await tf.io.encodeWeights(names.map((name) => ({ name, tensor: weights[name]! })));
  const count = Math.max(1, Math.ceil(data.byteLength / shardBytes));
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = `group1-shard${i + 1}of${count}.bin`;
    writeFileSync(join(dir, file), new Uint8Array(data, i * shardBytes, Math.min(shardBytes, data.byteLength - i * shardBytes)));
    paths.push(file);
  }
  const json: DeployModelJson = {
    format: 'psdet-retinanet-deploy',
    generatedBy: 'psdet export',
    psdet: spec,
    weightsManifest: [{ paths, weights: specs }],
  };
  writeFileSync(join(dir, 'model.json'), `${JSON.stringify(json, null, 1)}\n`);
  return ['model.json', ...paths].map((p) => join(dir, p));
}

/** Reads a deploy model written by `writeTfjsDeployModel` from `dir` (Node; a browser uses `loadDeployModel`). */
export function readTfjsDeployModel(dir: string): { spec: DeploySpec; weights: DeployWeights } {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as DeployModelJson;
  if (json.format !== 'psdet-retinanet-deploy') throw new Error(`${join(dir, 'model.json')}: not a psdet deploy model`);
  const weights: DeployWeights = {};
  for (const group of json.weightsManifest) {
    const buffers = group.paths.map((p) => readFileSync(join(dir, p)));
    const joined = Buffer.concat(buffers);
    const data = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer;
    Object.assign(weights, tf.io.decodeWeights(data, group.weights));
  }
  return { spec: json.psdet, weights };
}
