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
import { anchorsPerLevel, splitLevels } from '../../src/boxes/anchors.js';
import { buildRetinaNet } from '../../src/model/build.js';
import type { Detections, LevelOutputs } from '../../src/model/postprocess.js';
import type { RetinaNet } from '../../src/model/retinanet.js';
import { moduleTensors } from '../../src/train/checkpoint.js';
import { Rng } from '../../src/util/rng.js';
import { readSafetensors } from '../../src/weights/safetensors.js';
import { decisionMargins } from '../model/decision-margins.js';

/**
 * The folded model's logits and deltas may differ from the training model's by this much (absolute; ~1e-6
 * measured): float noise of a different summation order.
 */
const HEAD_BOUND = 1e-4;

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
 * Gives every norm layer non-trivial statistics and affine parameters (gamma of both signs, var far from 1) and the
 * box regressor deltas that move boxes off their anchors; `separateClassifier` then sets the classifier.
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
    if (p.name === 'head.box.deltas.weight') fill(p.variable, () => u(-0.05, 0.05));
  }
  for (const b of model.buffers()) {
    if (b.name.endsWith('.running_mean')) fill(b.variable, () => u(-0.5, 0.5));
    if (b.name.endsWith('.running_var')) fill(b.variable, () => u(0.3, 3));
  }
}

/**
 * Asserts that every post-processing decision on the training model's outputs is taken with a margin of at least
 * 4 x HEAD_BOUND (logit) and 1e-3 (IoU): head outputs within HEAD_BOUND of them then give the same detections, so
 * comparing detections exactly (labels in order) does not depend on float rounding.
 */
function expectWellSeparated(model: RetinaNet, clsLogits: tf.Tensor, boxDeltas: tf.Tensor, sizes: [number, number][], height: number, width: number): void {
  const [n, total, k] = clsLogits.shape as [number, number, number];
  const logits = clsLogits.dataSync() as Float32Array;
  const deltas = boxDeltas.dataSync() as Float32Array;
  const cfg = model.settings;
  const counts = anchorsPerLevel({ scales: cfg.anchorScales, aspectRatios: cfg.aspectRatios, featureSizes: model.featureSizes(height, width) });
  const anchors = splitLevels(model.anchorsFor(height, width), counts, 4);
  for (let i = 0; i < n; i++) {
    const levelLogits = splitLevels(logits.subarray(i * total * k, (i + 1) * total * k), counts, k);
    const levelDeltas = splitLevels(deltas.subarray(i * total * 4, (i + 1) * total * 4), counts, 4);
    const levels: LevelOutputs[] = anchors.map((a, l) => ({ anchors: a, logits: levelLogits[l]!, deltas: levelDeltas[l]! }));
    const m = decisionMargins(levels, k, sizes[i]!, cfg);
    expect(m.logit, `image ${i}: ${JSON.stringify(m)}`).toBeGreaterThan(4 * HEAD_BOUND);
    expect(m.iou, `image ${i}: ${JSON.stringify(m)}`).toBeGreaterThan(1e-3);
  }
}

/**
 * Scales the classifier so that its logits minus bias have standard deviation 1 on `images`, and gives each class
 * the bias that lets 4 to 12 of the batch's logits pass the score threshold, halfway across the widest gap between
 * neighbouring logits there: few, well separated candidates (as tools/export_torchvision_parity.py does).
 */
function separateClassifier(model: RetinaNet, images: tf.Tensor4D): void {
  const param = (name: string): tf.Variable => model.params().find((p) => p.name === name)!.variable;
  const weight = param('head.cls.logits.weight');
  const bias = param('head.cls.logits.bias');
  const zeros = tf.zerosLike(bias);
  bias.assign(zeros);
  zeros.dispose();
  const out = model.forward(images, { training: false });
  const [, , k] = out.clsLogits.shape as [number, number, number];
  const raw = out.clsLogits.dataSync();
  tf.dispose([...out.features, out.clsLogits, out.boxDeltas]);
  let sum = 0;
  let sq = 0;
  for (const v of raw) {
    sum += v;
    sq += v * v;
  }
  const scale = 1 / Math.sqrt(sq / raw.length - (sum / raw.length) ** 2);
  const t = Math.fround(model.settings.scoreThreshold);
  const thresholdLogit = Math.log(t / (1 - t));
  const classBias = Array.from({ length: k }, (_, c) => {
    const top = raw.filter((_, i) => i % k === c).sort((a, b) => b - a).slice(0, 13).map((v) => v * scale);
    let cut = 4;
    for (let j = 4; j < 12; j++) if (top[j - 1]! - top[j]! > top[cut - 1]! - top[cut]!) cut = j;
    return thresholdLogit - (top[cut - 1]! + top[cut]!) / 2;
  });
  const scaled = tf.mul(weight, scale);
  weight.assign(scaled);
  const b = tf.tensor1d(Array.from({ length: bias.size }, (_, i) => classBias[i % k]!));
  bias.assign(b);
  tf.dispose([scaled, b]);
}

function expectSameDetections(a: Detections[], b: Detections[]): void {
  expect(b.length).toBe(a.length);
  a.forEach((da, i) => {
    const db = b[i]!;
    expect(db.scores.length).toBe(da.scores.length);
    expect(Array.from(db.labels)).toEqual(Array.from(da.labels));
    da.scores.forEach((s, j) => expect(Math.abs(db.scores[j]! - s)).toBeLessThan(HEAD_BOUND / 4 + 1e-7));
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
      const images = tf.randomNormal([2, 96, 128, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
      separateClassifier(model, images);
      const out = join(dir, norm);
      const { files, spec } = await exportDeployModel(moduleTensors(model), cfg, { ids: [1, 2, 3], names: ['a', 'b', 'c'] }, out);
      expect(files.map((f) => f.slice(out.length + 1))).toEqual(['model.safetensors', 'model.json', 'group1-shard1of1.bin']);
      const safe = readSafetensors(files[0]!);
      expect(JSON.parse(safe.metadata.spec!)).toEqual(spec);

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
      const maxDiff = async (a: tf.Tensor, b: tf.Tensor): Promise<number> => {
        const r = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
        const v = (await r.data())[0]!;
        r.dispose();
        return v;
      };
      expect(await maxDiff(cls, reference.clsLogits)).toBeLessThan(HEAD_BOUND);
      expect(await maxDiff(box, reference.boxDeltas)).toBeLessThan(HEAD_BOUND);
      expectWellSeparated(model, reference.clsLogits, reference.boxDeltas, sizes, 96, 128);

      const fromModel = await model.detect(images, sizes);
      const fromDeploy = await deploy.detect(images, sizes);
      expect(fromModel[0]!.scores.length).toBeGreaterThanOrEqual(5);
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
