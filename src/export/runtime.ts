import * as tf from '@tensorflow/tfjs-core';
import { detectionsFromHeads } from '../infer/detect.js';
import type { Detections } from '../model/postprocess.js';

/**
 * The deploy RetinaNet: every norm layer folded into the convolution before it, so the network is convolutions
 * with biases, ReLUs, one max-pool, additions and nearest upsampling. This module depends only on
 * `@tensorflow/tfjs-core` (and the pure box functions its post-processing uses), so the same code runs in Node and,
 * bundled with `@tensorflow/tfjs`, in a browser.
 *
 * Weight names are the training model's conv names (each a `.weight` HWIO [k, k, in, out] and a `.bias` [out]):
 * - `backbone.stem.conv` (7x7, stride 2, padding 3), then ReLU and a 3x3 stride-2 max-pool with padding 1;
 * - `backbone.res{2..5}.{i}.conv1`, `.conv2`, (`.conv3` for bottlenecks) and `.downsample.conv` (1x1) when
 *   present. The stride of a stage (1 for res2, 2 after) sits on the first block's 3x3 conv (conv2 in a
 *   bottleneck, conv1 in a basic block) and its downsample, as in torchvision;
 * - `fpn.lateral{3,4,5}` (1x1), `fpn.output{3,4,5}` (3x3), `fpn.p6` (3x3 stride 2 on P5 or C5) and `fpn.p7`
 *   (3x3 stride 2 on ReLU(P6));
 * - `head.cls.tower.{0..D-1}`, `head.cls.logits`, `head.box.tower.{0..D-1}`, `head.box.deltas` (3x3, ReLU after
 *   each tower conv), shared across levels.
 * Channel counts are read from the weight shapes, so widths never need to be written down.
 */

/** What the deploy model needs besides its weights; stored in model.json under `psdet`. */
export interface DeploySpec {
  format: 'psdet-retinanet-deploy';
  version: 1;
  block: 'basic' | 'bottleneck';
  /** Blocks in res2..res5. */
  stageBlocks: [number, number, number, number];
  p6Input: 'p5' | 'c5';
  headDepth: number;
  numClasses: number;
  anchorSizes: number[];
  anchorScales: number[];
  aspectRatios: number[];
  boxCoderWeights: [number, number, number, number];
  scoreThreshold: number;
  topkCandidates: number;
  nmsThreshold: number;
  detectionsPerImage: number;
  /** How images are prepared: shorter side to minSize (longer at most maxSize), 0..1 RGB, (x - mean) / std, padded. */
  input: {
    minSize: number;
    maxSize: number;
    sizeDivisor: number;
    pixelMean: [number, number, number];
    pixelStd: [number, number, number];
  };
  /** COCO category id and name of each contiguous label. */
  categories: { ids: number[]; names: string[] };
}

/** Raw head outputs, one entry per level P3..P7. */
export interface HeadOutputs {
  /** [N, H*W*A, K] classification logits, anchors in (y, x, cell anchor) order. */
  clsLogits: tf.Tensor3D[];
  /** [N, H*W*A, 4] box deltas (dx, dy, dw, dh). */
  boxDeltas: tf.Tensor3D[];
  /** [h, w] of each level's feature map. */
  featureSizes: [number, number][];
}

export type DeployWeights = Record<string, tf.Tensor>;

export class DeployRetinaNet {
  readonly spec: DeploySpec;
  private readonly weights: DeployWeights;

  /** Takes ownership of `weights` (freed by `dispose`). Throws naming the first missing weight. */
  constructor(spec: DeploySpec, weights: DeployWeights) {
    this.spec = spec;
    this.weights = weights;
    for (const name of requiredConvs(spec)) {
      for (const suffix of ['weight', 'bias']) {
        if (!(`${name}.${suffix}` in weights)) throw new Error(`deploy model: weight "${name}.${suffix}" is missing`);
      }
    }
  }

  /** [N, H, W, 3] normalised, padded images -> raw head outputs per level. The caller disposes them. */
  forward(images: tf.Tensor4D): HeadOutputs {
    const k = this.spec.numClasses;
    const a = this.anchorsPerLocation();
    const featureSizes: [number, number][] = [];
    const outputs = tf.tidy(() => {
      const clsLogits: tf.Tensor3D[] = [];
      const boxDeltas: tf.Tensor3D[] = [];
      for (const p of this.features(images)) {
        const [n, h, w] = p.shape;
        featureSizes.push([h, w]);
        clsLogits.push(tf.reshape(this.tower(p, 'head.cls', 'logits'), [n, h * w * a, k]));
        boxDeltas.push(tf.reshape(this.tower(p, 'head.box', 'deltas'), [n, h * w * a, 4]));
      }
      return { clsLogits, boxDeltas };
    });
    return { ...outputs, featureSizes };
  }

  /**
   * Detections for normalised, padded images [N, H, W, 3]; `imageSizes` are [height, width] of each image before
   * padding. Boxes are xyxy in those (resized) pixels, clipped to the image; labels are contiguous (see
   * `spec.categories` for ids and names).
   */
  async detect(images: tf.Tensor4D, imageSizes: [number, number][]): Promise<Detections[]> {
    const out = this.forward(images);
    const clsLogits = tf.concat(out.clsLogits, 1);
    const boxDeltas = tf.concat(out.boxDeltas, 1);
    tf.dispose([...out.clsLogits, ...out.boxDeltas]);
    try {
      return await detectionsFromHeads(clsLogits, boxDeltas, out.featureSizes, [images.shape[1], images.shape[2]], imageSizes, this.spec);
    } finally {
      tf.dispose([clsLogits, boxDeltas]);
    }
  }

  /**
   * One decoded RGB image [H, W, 3] (0..255, e.g. `tf.browser.fromPixels(img)`) -> its detections in the image's own
   * pixels, with COCO category ids and names: resized as the spec says (shorter side `minSize`, longer at most
   * `maxSize`, bilinear), normalised, padded to `sizeDivisor`, detected, and mapped back.
   */
  async detectImage(image: tf.Tensor3D): Promise<{ boxes: Float32Array; scores: Float32Array; categoryIds: number[]; names: string[] }> {
    const { input, size } = prepareDeployInput(image, this.spec.input);
    let dets: Detections[];
    try {
      dets = await this.detect(input, [size]);
    } finally {
      input.dispose();
    }
    const det = dets[0]!;
    const sy = image.shape[0] / size[0];
    const sx = image.shape[1] / size[1];
    const boxes = det.boxes.map((v, i) => v * (i % 2 === 0 ? sx : sy));
    const labels = Array.from(det.labels);
    return {
      boxes,
      scores: det.scores,
      categoryIds: labels.map((l) => this.spec.categories.ids[l]!),
      names: labels.map((l) => this.spec.categories.names[l]!),
    };
  }

  /** P3..P7 [N, h_l, w_l, C] for normalised images [N, H, W, 3]. */
  features(images: tf.Tensor4D): tf.Tensor4D[] {
    return tf.tidy(() => {
      let x = tf.relu(this.conv(images, 'backbone.stem.conv', 2, 3));
      x = tf.maxPool(x, 3, 2, 1);
      const c: tf.Tensor4D[] = [];
      for (let s = 0; s < 4; s++) {
        for (let i = 0; i < this.spec.stageBlocks[s]!; i++) {
          x = this.block(x, `backbone.res${s + 2}.${i}`, i === 0 && s > 0 ? 2 : 1);
        }
        c.push(x);
      }
      const [, c3, c4, c5] = c as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const inner5 = this.conv(c5, 'fpn.lateral5', 1, 0);
      const inner4 = tf.add(this.conv(c4, 'fpn.lateral4', 1, 0), upsampleTo(inner5, c4.shape[1], c4.shape[2])) as tf.Tensor4D;
      const inner3 = tf.add(this.conv(c3, 'fpn.lateral3', 1, 0), upsampleTo(inner4, c3.shape[1], c3.shape[2])) as tf.Tensor4D;
      const p3 = this.conv(inner3, 'fpn.output3', 1, 1);
      const p4 = this.conv(inner4, 'fpn.output4', 1, 1);
      const p5 = this.conv(inner5, 'fpn.output5', 1, 1);
      const p6 = this.conv(this.spec.p6Input === 'p5' ? p5 : c5, 'fpn.p6', 2, 1);
      const p7 = this.conv(tf.relu(p6), 'fpn.p7', 2, 1);
      return [p3, p4, p5, p6, p7];
    });
  }

  anchorsPerLocation(): number {
    return this.spec.anchorScales.length * this.spec.aspectRatios.length;
  }

  dispose(): void {
    tf.dispose(Object.values(this.weights));
  }

  private conv(x: tf.Tensor4D, name: string, stride: number, pad: number): tf.Tensor4D {
    const w = this.weights[`${name}.weight`] as tf.Tensor4D;
    return tf.add(tf.conv2d(x, w, stride, pad), this.weights[`${name}.bias`]!);
  }

  private has(name: string): boolean {
    return `${name}.weight` in this.weights;
  }

  private block(x: tf.Tensor4D, name: string, stride: number): tf.Tensor4D {
    const downsample = `${name}.downsample.conv`;
    const identity = this.has(downsample) ? this.conv(x, downsample, stride, 0) : x;
    let y: tf.Tensor4D;
    if (this.spec.block === 'bottleneck') {
      y = tf.relu(this.conv(x, `${name}.conv1`, 1, 0));
      y = tf.relu(this.conv(y, `${name}.conv2`, stride, 1));
      y = this.conv(y, `${name}.conv3`, 1, 0);
    } else {
      y = tf.relu(this.conv(x, `${name}.conv1`, stride, 1));
      y = this.conv(y, `${name}.conv2`, 1, 1);
    }
    return tf.relu(tf.add(y, identity)) as tf.Tensor4D;
  }

  private tower(p: tf.Tensor4D, name: string, last: string): tf.Tensor4D {
    let y = p;
    for (let i = 0; i < this.spec.headDepth; i++) y = tf.relu(this.conv(y, `${name}.tower.${i}`, 1, 1));
    return this.conv(y, `${name}.${last}`, 1, 1);
  }
}

/** Every conv a deploy model with `spec` must have (downsamples are optional: present where shapes change). */
export function requiredConvs(spec: DeploySpec): string[] {
  const names = ['backbone.stem.conv'];
  const convs = spec.block === 'bottleneck' ? ['conv1', 'conv2', 'conv3'] : ['conv1', 'conv2'];
  spec.stageBlocks.forEach((blocks, s) => {
    for (let i = 0; i < blocks; i++) for (const c of convs) names.push(`backbone.res${s + 2}.${i}.${c}`);
  });
  for (const l of [3, 4, 5]) names.push(`fpn.lateral${l}`, `fpn.output${l}`);
  names.push('fpn.p6', 'fpn.p7');
  for (const tower of ['cls', 'box']) {
    for (let i = 0; i < spec.headDepth; i++) names.push(`head.${tower}.tower.${i}`);
  }
  names.push('head.cls.logits', 'head.box.deltas');
  return names;
}

/**
 * Nearest upsampling of [N, h, w, C] to [N, outH, outW, C] for outH in {2h - 1, 2h} (what a stride-2 pyramid
 * meets), as torch's `interpolate(mode='nearest')`: source index floor(d / 2). Written as stack + reshape + slice.
 */
export function upsampleTo(x: tf.Tensor4D, outH: number, outW: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  if ((outH !== 2 * h && outH !== 2 * h - 1) || (outW !== 2 * w && outW !== 2 * w - 1)) {
    throw new Error(`upsampleTo: ${h}x${w} -> ${outH}x${outW} is not a 2x nearest upsample`);
  }
  return tf.tidy(() => {
    const wide = tf.reshape(tf.stack([x, x], 3), [n, h, 2 * w, c]);
    const up = tf.reshape(tf.stack([wide, wide], 2), [n, 2 * h, 2 * w, c]) as tf.Tensor4D;
    return outH === 2 * h && outW === 2 * w ? up : tf.slice(up, [0, 0, 0, 0], [n, outH, outW, c]);
  });
}

/**
 * [H, W, 3] RGB 0..255 -> [1, padH, padW, 3] network input and the resized size [h, w]: shorter side `minSize`
 * unless the longer would pass `maxSize` (then longer = `maxSize`), other side rounded; bilinear resize (half-pixel
 * centres); (x / 255 - mean) / std; zeros in the padding up to a multiple of `sizeDivisor`.
 */
export function prepareDeployInput(image: tf.Tensor3D, input: DeploySpec['input']): { input: tf.Tensor4D; size: [number, number] } {
  const [height, width] = image.shape;
  const short = Math.min(height, width);
  const long = Math.max(height, width);
  const fits = (long * input.minSize) / short <= input.maxSize;
  const newShort = fits ? input.minSize : Math.max(1, Math.round((short * input.maxSize) / long));
  const newLong = fits ? Math.max(1, Math.round((long * input.minSize) / short)) : input.maxSize;
  const size: [number, number] = height <= width ? [newShort, newLong] : [newLong, newShort];
  const d = Math.max(1, input.sizeDivisor);
  const padH = Math.ceil(size[0] / d) * d;
  const padW = Math.ceil(size[1] / d) * d;
  const prepared = tf.tidy(() => {
    const resized = tf.image.resizeBilinear(tf.cast(image, 'float32'), size, false, true);
    const normalised = tf.div(tf.sub(tf.div(resized, 255), input.pixelMean), input.pixelStd);
    return tf.expandDims(tf.pad(normalised, [[0, padH - size[0]], [0, padW - size[1]], [0, 0]]), 0) as tf.Tensor4D;
  });
  return { input: prepared, size };
}

/**
 * Loads an exported deploy model from a URL to its `model.json` (in a browser, or anywhere `fetch` works):
 * the binary shards are fetched from beside it with `tf.io.loadWeights`.
 */
export async function loadDeployModel(modelJsonUrl: string): Promise<DeployRetinaNet> {
  const response = await fetch(modelJsonUrl);
  if (!response.ok) throw new Error(`${modelJsonUrl}: HTTP ${response.status}`);
  const json = (await response.json()) as { format?: string; psdet: DeploySpec; weightsManifest: tf.io.WeightsManifestConfig };
  if (json.format !== 'psdet-retinanet-deploy') throw new Error(`${modelJsonUrl}: not a psdet deploy model`);
  const prefix = modelJsonUrl.slice(0, modelJsonUrl.lastIndexOf('/') + 1);
  const weights = await tf.io.loadWeights(json.weightsManifest, prefix);
  return new DeployRetinaNet(json.psdet, weights);
}
