import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeployRetinaNet, loadDeployModel, prepareDeployInput, upsampleTo } from '../../src/export/runtime.js';
import { readTfjsDeployModel, writeTfjsDeployModel } from '../../src/export/tfjs-format.js';
import { tinySpec, tinyWeights } from './tiny-deploy.js';

async function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  const v = (await d.data())[0]!;
  d.dispose();
  return v;
}

describe('upsampleTo', () => {
  it('repeats each value twice along both axes and crops to odd sizes like torch nearest', async () => {
    const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    const even = upsampleTo(x, 4, 4);
    expect(Array.from(await even.data())).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    // torch: source index floor(d * 2 / 3) = floor(d / 2) for d = 0, 1, 2 -> rows/cols 0, 0, 1.
    const odd = upsampleTo(x, 3, 3);
    expect(Array.from(await odd.data())).toEqual([1, 1, 2, 1, 1, 2, 3, 3, 4]);
    expect(() => upsampleTo(x, 5, 4)).toThrow(/not a 2x nearest upsample/);
    tf.dispose([x, even, odd]);
  });
});

describe('DeployRetinaNet', () => {
  it('gives one output per level P3..P7 with H*W*A anchors, without leaking', () => {
    const spec = tinySpec();
    const model = new DeployRetinaNet(spec, tinyWeights(spec));
    const images = tf.randomNormal([2, 64, 96, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const out = model.forward(images);
    // Strides 8..128 on 64x96: 8x12, 4x6, 2x3, 1x2 (ceil of 2x3 / 2), 1x1.
    expect(out.featureSizes).toEqual([[8, 12], [4, 6], [2, 3], [1, 2], [1, 1]]);
    expect(out.clsLogits.map((t) => t.shape)).toEqual([[2, 864, 3], [2, 216, 3], [2, 54, 3], [2, 18, 3], [2, 9, 3]]);
    expect(out.boxDeltas[0]!.shape).toEqual([2, 864, 4]);
    tf.dispose([...out.clsLogits, ...out.boxDeltas]);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
    model.dispose();
  });

  it('names the first missing weight', () => {
    const spec = tinySpec();
    const weights = tinyWeights(spec);
    weights['fpn.p7.bias']!.dispose();
    delete weights['fpn.p7.bias'];
    expect(() => new DeployRetinaNet(spec, weights)).toThrow('deploy model: weight "fpn.p7.bias" is missing');
    tf.dispose(Object.values(weights));
  });
});

describe('prepareDeployInput / detectImage', () => {
  it('resizes, normalises and pads one RGB image as the spec says', async () => {
    const input = tinySpec().input; // min 64, max 96, divisor 32
    const solid = (h: number, w: number): tf.Tensor3D =>
      tf.tidy(() => tf.mul(tf.ones([h, w, 3]), tf.tensor1d([255, 0, 128])) as tf.Tensor3D);
    // 40 x 60 (h x w): 60 * 64 / 40 = 96 <= 96 -> 64 x 96, already a multiple of 32.
    const a = solid(40, 60);
    const pa = prepareDeployInput(a, input);
    expect(pa.size).toEqual([64, 96]);
    expect(pa.input.shape).toEqual([1, 64, 96, 3]);
    // (255 / 255 - 0.485) / 0.229 = 2.2489, (0 - 0.456) / 0.224 = -2.0357, (128 / 255 - 0.406) / 0.225 = 0.4265.
    const first = Array.from((await pa.input.data()).subarray(0, 3));
    expect(first[0]).toBeCloseTo(2.2489, 3);
    expect(first[1]).toBeCloseTo(-2.0357, 3);
    expect(first[2]).toBeCloseTo(0.4265, 3);
    // 30 x 100: 100 * 64 / 30 = 213 > 96 -> longer 96, shorter round(30 * 96 / 100) = 29; padded to 32 x 96.
    const b = solid(30, 100);
    const pb = prepareDeployInput(b, input);
    expect(pb.size).toEqual([29, 96]);
    expect(pb.input.shape).toEqual([1, 32, 96, 3]);
    const lastRow = Array.from((await pb.input.data()).subarray(31 * 96 * 3));
    expect(lastRow.every((v) => v === 0)).toBe(true);
    tf.dispose([a, b, pa.input, pb.input]);
  });

  it('detects in the image\'s own pixels with category ids and names', async () => {
    const spec = { ...tinySpec(), scoreThreshold: 0 };
    const weights = tinyWeights(spec);
    const model = new DeployRetinaNet(spec, weights);
    const image = tf.tidy(() => tf.mul(tf.randomUniform([40, 60, 3], 0, 1, 'float32', 3), 255) as tf.Tensor3D);
    const before = tf.memory().numTensors;
    const det = await model.detectImage(image);
    expect(tf.memory().numTensors).toBe(before);
    expect(det.scores.length).toBe(100);
    for (let i = 0; i < det.boxes.length; i += 4) {
      expect(det.boxes[i]!).toBeGreaterThanOrEqual(0);
      expect(det.boxes[i + 2]!).toBeLessThanOrEqual(60 + 1e-3);
      expect(det.boxes[i + 3]!).toBeLessThanOrEqual(40 + 1e-3);
    }
    expect(new Set(det.names).size).toBeGreaterThan(0);
    det.categoryIds.forEach((id, i) => expect(spec.categories.names[spec.categories.ids.indexOf(id)]).toBe(det.names[i]));
    image.dispose();
    model.dispose();
  });
});

describe('tfjs deploy format', () => {
  const dir = mkdtempSync(join(tmpdir(), 'psdet-deploy-'));
  let server: Server;
  let port = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      readFile(join(dir, decodeURIComponent(new URL(req.url!, 'http://x').pathname)))
        .then((body) => res.end(body))
        .catch(() => {
          res.statusCode = 404;
          res.end();
        });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    port = (server.address() as { port: number }).port;
  });

  afterAll(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes sharded weights that read back (fs and tf.io.loadWeights over HTTP) to the same outputs', async () => {
    const spec = tinySpec();
    const weights = tinyWeights(spec);
    // 8 KiB shards: the tiny model's ~60 KiB of float32 weights need several.
    const written = await writeTfjsDeployModel(dir, spec, weights, 8192);
    const model = new DeployRetinaNet(spec, weights);
    expect(written.length).toBeGreaterThan(3);
    expect(readdirSync(dir)).toContain('model.json');

    const images = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
    const reference = model.forward(images);
    const fromDisk = readTfjsDeployModel(dir);
    const reread = new DeployRetinaNet(fromDisk.spec, fromDisk.weights);
    const fetched = await loadDeployModel(`http://127.0.0.1:${port}/model.json`);
    for (const other of [reread, fetched]) {
      const out = other.forward(images);
      for (let l = 0; l < 5; l++) {
        expect(await maxAbsDiff(out.clsLogits[l]!, reference.clsLogits[l]!)).toBe(0);
        expect(await maxAbsDiff(out.boxDeltas[l]!, reference.boxDeltas[l]!)).toBe(0);
      }
      tf.dispose([...out.clsLogits, ...out.boxDeltas]);
      other.dispose();
    }
    tf.dispose([...reference.clsLogits, ...reference.boxDeltas, images]);
    model.dispose();
  });
});
