import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import type { Config, NormKind } from '../../src/config/types.js';
import { exportDeployModel } from '../../src/export/export.js';
import { DeployRetinaNet } from '../../src/export/runtime.js';
import { readTfjsDeployModel } from '../../src/export/tfjs-format.js';
import { buildRetinaNet } from '../../src/model/build.js';
import type { Detections } from '../../src/model/postprocess.js';
import type { RetinaNet } from '../../src/model/retinanet.js';


import { moduleTensors } from '../../src/train/checkpoint.js';
import { Rng } from '../../src/util/rng.js';
import { readSafetensors } from '../../src/weights/safetensors.js';

/** ResNet-18 at 1/16 width, FPN and head 16 wide, 2 tower convs, 3 classes. */
function tinyConfig(norm: NormKind): Config {
  const cfg = defaultConfig();
  Object.assign(cfg.model, {
    depth: 18,
    widthMultiplier: 1 / 16,
    norm,
    normEval: norm !== 'bn',
    frozenStages: norm === 'frozen_bn' ? 1 : 0,
    psbnAlpha: 0.3,
    fpnChannels: 16,
    headChannels: 16,
    headDepth: 2,
    numClasses: 3,
  });
  return cfg;
}

/**
 * Gives every norm layer non-trivial statistics and affine parameters (gamma of both signs, var far from 1), and
 * spreads the classification logits so that detections pass the 0.05 threshold with distinct scores.
 */
function perturb(model: RetinaNet, seed: number): void {
  const rng = new Rng(seed);
  const u = (lo: number, hi: number): number => lo + (hi - lo) * rng.nextUint32() / 2 ** 32;
  const fill = (v: tf.Variable, f: () => number): void => {
    const t = tf.tensor(Float32Array.from({ length: v.size }, f), v.shape);
    v.assign(t);
    t.dispose();
  };
  for (const p of model.params()) {
    if (p.name.endsWith('.gamma')) fill(p.variable, () => (u(0, 1) < 0.15 ? -1 : 1) * u(0.5, 1.5));
    if (p.name.endsWith('.beta')) fill(p.variable, () => u(-0.5, 0.5));
    if (p.name === 'head.cls.logits.weight') fill(p.variable, () => u(-0.5, 0.5));
    if (p.name === 'head.cls.logits.bias') fill(p.variable, () => u(-2, 0));
    if (p.name === 'head.box.deltas.weight') fill(p.variable, () => u(-0.05, 0.05));
  }
  for (const b of model.buffers()) {
    if (b.name.endsWith('.running_mean')) fill(b.variable, () => u(-0.5, 0.5));
    if (b.name.endsWith('.running_var')) fill(b.variable, () => u(0.3, 3));
  }
}

function expectSameDetections(a: Detections[], b: Detections[]): void {
  expect(b.length).toBe(a.length);
  a.forEach((da, i) => {
    const db = b[i]!;
    expect(db.scores.length).toBe(da.scores.length);
    expect(Array.from(db.labels)).toEqual(Array.from(da.labels));
    da.scores.forEach((s, j) => expect(Math.abs(db.scores[j]! - s)).toBeLessThan(1e-4));
    da.boxes.forEach((v, j) => expect(Math.abs(db.boxes[j]! - v)).toBeLessThan(1e-2));
  });
}

describe('exported (folded) model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'psdet-export-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const norm of ['bn', 'frozen_bn', 'psbn'] as const) {
    it(`gives the training model's head outputs and detections (${norm}${norm === 'psbn' ? ', alpha 0.3' : ''})`, async () => {
      const cfg = tinyConfig(norm);
      const model = buildRetinaNet(cfg.model, new Rng(3));
      perturb(model, 11);
      const out = join(dir, norm);
      const { files, spec } = await exportDeployModel(moduleTensors(model), cfg, { ids: [1, 2, 3], names: ['a', 'b', 'c'] }, out);
      expect(files.map((f) => f.slice(out.length + 1))).toEqual(['model.safetensors', 'model.json', 'group1-shard1of1.bin']);
      const safe = readSafetensors(files[0]!);
      expect(JSON.parse(safe.metadata.spec!)).toEqual(spec);

      const images = tf.randomNormal([2, 96, 128, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
      const sizes: [number, number][] = [[96, 128], [80, 100]];
      const reference = model.forward(images, { training: false });
      const { spec: readSpec, weights } = readTfjsDeployModel(out);
      expect(readSpec).toEqual(spec);
      // No norm tensors in the deploy weights: 1 (stem) + 8 x 2 (blocks) + 3 (downsamples) convs in the body,
      // 8 in the FPN, 2 x (2 + 1) in the head = 34 convs, each a weight and a bias.
      expect(Object.keys(weights)).toHaveLength(68);
      expect(Object.keys(weights).some((n) => /\.bn\d*\./.test(n))).toBe(false);
      expect([...safe.tensors.keys()].sort()).toEqual(Object.keys(weights).sort());
      const deploy = new DeployRetinaNet(readSpec, weights);
      const heads = deploy.forward(images);
      const cls = tf.concat(heads.clsLogits, 1);
      const box = tf.concat(heads.boxDeltas, 1);
      const rel = async (a: tf.Tensor, b: tf.Tensor): Promise<number> => {
        const r = tf.tidy(() => tf.div(tf.max(tf.abs(tf.sub(a, b))), tf.add(tf.max(tf.abs(b)), 1e-6)));
        const v = (await r.data())[0]!;
        r.dispose();
        return v;
      };
      expect(await rel(cls, reference.clsLogits)).toBeLessThan(1e-4);
      expect(await rel(box, reference.boxDeltas)).toBeLessThan(1e-4);

      const fromModel = await model.detect(images, sizes);
      const fromDeploy = await deploy.detect(images, sizes);
      expect(fromModel[0]!.scores.length).toBeGreaterThan(10);
      expectSameDetections(fromModel, fromDeploy);

      tf.dispose([images, cls, box, ...heads.clsLogits, ...heads.boxDeltas, ...reference.features, reference.clsLogits, reference.boxDeltas]);
      deploy.dispose();
      model.dispose();
    });
  }

  it('changes the outputs when a norm is left out of the fold (the test can fail)', async () => {
    const cfg = tinyConfig('psbn');
    const model = buildRetinaNet(cfg.model, new Rng(3));
    perturb(model, 11);
    const out = join(dir, 'wrong-alpha');
    const wrong = { ...cfg, model: { ...cfg.model, psbnAlpha: 0 } };
    await exportDeployModel(moduleTensors(model), wrong, { ids: [1, 2, 3], names: ['a', 'b', 'c'] }, out);
    const { spec, weights } = readTfjsDeployModel(out);
    const deploy = new DeployRetinaNet(spec, weights);
    const images = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const reference = model.forward(images, { training: false });
    const heads = deploy.forward(images);
    const cls = tf.concat(heads.clsLogits, 1);
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(cls, reference.clsLogits))));
    expect((await d.data())[0]!).toBeGreaterThan(1e-3);
    tf.dispose([d, images, cls, ...heads.clsLogits, ...heads.boxDeltas, ...reference.features, reference.clsLogits, reference.boxDeltas]);
    deploy.dispose();
    model.dispose();
  });
});
