import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import type { InputConfig } from '../config/types.js';
import { InputError } from '../util/errors.js';
import { batchToTensor } from '../data/tensor.js';
import { decodeImage, padTo, type DecodeRequest } from '../data/transforms.js';
import type { DecodedImage, Sample } from '../data/types.js';
import { writeResultsJson, type CocoDetection } from '../eval/results.js';
import { drawDetections, type ImageDetections } from './draw.js';
import type { ImageInput } from './inputs.js';

/** Anything that turns a batch of prepared images into detections: the training model or the deploy model. */
export interface Detector {
  /**
   * images [N, H, W, 3] normalised and padded; imageSizes [height, width] of each resized image before padding.
   * Returns per image xyxy boxes in resized-image pixels (clipped to its size), scores and contiguous labels.
   */
  detect(images: tf.Tensor4D, imageSizes: [number, number][]): Promise<ImageDetections[]>;
}

/** Pixel limits of the decode (see `DecodeRequest`); absent fields take the decoder's defaults. */
export type DecodeLimits = Pick<DecodeRequest, 'maxDecodePixels' | 'maxImagePixels'>;

/** One image decoded for the network (resized on the tensor side, in `imagesToTensor`); never flipped. */
export interface PreparedImage extends Omit<DecodedImage, 'input' | 'flipped'> {
  input: ImageInput;
}

/**
 * Decodes one image and computes its size exactly as evaluation does (`decodeImage`: stored orientation, shorter side
 * `testMinSize`, longer at most `maxSize`, RGB). A file that cannot be read or decoded is an InputError naming it.
 */
export async function prepareImage(
  input: ImageInput,
  cfg: Pick<InputConfig, 'testMinSize' | 'maxSize'>,
  limits: DecodeLimits = {},
): Promise<PreparedImage> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(input.path, { autoOrient: false }).metadata();
  } catch (err) {
    throw new InputError(`${input.path}: cannot read image (${firstLine(err)})`);
  }
  const decoded = await decodeImage({
    path: input.path,
    expectedWidth: meta.width,
    expectedHeight: meta.height,
    minSize: cfg.testMinSize,
    maxSize: cfg.maxSize,
    flip: false,
    ...limits,
  });
  return {
    input,
    pixels: decoded.pixels,
    decodedHeight: decoded.decodedHeight,
    decodedWidth: decoded.decodedWidth,
    height: decoded.height,
    width: decoded.width,
    originalHeight: decoded.originalHeight,
    originalWidth: decoded.originalWidth,
  };
}

/**
 * [N, padH, padW, 3] network input, as evaluation builds it (`batchToTensor`): bilinear resize (torchvision's),
 * (pixel / 255 - mean) / std inside
 * each image, 0 in the padding (right and bottom), padded sizes rounded up to `sizeDivisor`.
 */
export function imagesToTensor(
  images: readonly PreparedImage[],
  cfg: Pick<InputConfig, 'sizeDivisor' | 'pixelMean' | 'pixelStd'>,
): tf.Tensor4D {
  const samples: Sample[] = images.map((img) => ({
    imageId: img.input.imageId,
    pixels: img.pixels,
    decodedHeight: img.decodedHeight,
    decodedWidth: img.decodedWidth,
    height: img.height,
    width: img.width,
    originalHeight: img.originalHeight,
    originalWidth: img.originalWidth,
    scaleY: img.height / img.originalHeight,
    scaleX: img.width / img.originalWidth,
    flipped: false,
    boxes: new Float32Array(0),
    labels: new Int32Array(0),
    crowdBoxes: new Float32Array(0),
  }));
  const batch = {
    samples,
    paddedHeight: padTo(Math.max(...images.map((i) => i.height)), cfg.sizeDivisor),
    paddedWidth: padTo(Math.max(...images.map((i) => i.width)), cfg.sizeDivisor),
  };
  return batchToTensor(batch, cfg.pixelMean, cfg.pixelStd);
}

/** Scales resized-image boxes back to the original image (per axis: original / resized). */
export function toOriginal(det: ImageDetections, image: PreparedImage): ImageDetections {
  const rx = image.originalWidth / image.width;
  const ry = image.originalHeight / image.height;
  const boxes = new Float32Array(det.boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] = det.boxes[i]! * rx;
    boxes[i + 1] = det.boxes[i + 1]! * ry;
    boxes[i + 2] = det.boxes[i + 2]! * rx;
    boxes[i + 3] = det.boxes[i + 3]! * ry;
  }
  return { boxes, scores: det.scores, labels: det.labels };
}

/** COCO results entries of one image's detections (original pixels), labels mapped to category ids. */
export function toCocoResults(imageId: number, det: ImageDetections, categoryIds: readonly number[]): CocoDetection[] {
  const out: CocoDetection[] = [];
  for (let i = 0; i < det.scores.length; i++) {
    const [x1, y1, x2, y2] = [det.boxes[4 * i]!, det.boxes[4 * i + 1]!, det.boxes[4 * i + 2]!, det.boxes[4 * i + 3]!];
    const label = det.labels[i]!;
    const categoryId = categoryIds[label];
    if (categoryId === undefined) throw new Error(`detections: label ${label} has no category (${categoryIds.length} classes)`);
    out.push({ image_id: imageId, category_id: categoryId, bbox: [round(x1), round(y1), round(x2 - x1), round(y2 - y1)], score: round(det.scores[i]!, 5) });
  }
  return out;
}

function round(v: number, digits = 2): number {
  return Number(v.toFixed(digits));
}

export interface InferOptions {
  input: InputConfig;
  /** Images per forward pass. */
  batchSize: number;
  /** Detections below this are left out of the results and the drawings. */
  scoreThreshold: number;
  categories: { ids: number[]; names: string[] };
  /** Where results.json and the drawn images go; null = write nothing. */
  outDir: string | null;
  draw: boolean;
  /** Pixel limits for decoding (very large images are shrunk while decoding). */
  decode?: DecodeLimits;
  /** At most this many detections per image, the best-scoring ones (default: all above the threshold). */
  maxDetections?: number;
  /** Called after each batch with the number of images done in it (read or not). */
  onProgress?: (count: number) => void;
}

/** An input image that could not be read: left out, the others still run. */
export interface InferFailure {
  path: string;
  imageId: number;
  /** One line naming the file and the reason. */
  message: string;
}

export interface InferSummary {
  results: CocoDetection[];
  /** Images detected on (the inputs less the failures). */
  images: number;
  /** Inputs that could not be read, in input order. */
  failures: InferFailure[];
  /** Seconds spent in decode + forward + post-processing (not drawing). */
  seconds: number;
}

/**
 * Runs `detector` over `inputs` in batches: decode and resize, normalise and pad, detect, map boxes back to the
 * original pixels, keep scores >= the threshold; writes `results.json` (COCO results) and, with `draw`, each image
 * with its boxes into `outDir` (JPEG for JPEG inputs, PNG otherwise). An image that cannot be read (an InputError)
 * is left out and listed in `failures`; the others are detected and written all the same.
 */
export async function runInference(detector: Detector, inputs: readonly ImageInput[], opts: InferOptions): Promise<InferSummary> {
  const outDir = opts.outDir;
  if (outDir !== null && opts.draw) {
    const clash = inputs.find((i) => resolve(drawnPath(outDir, i.path)) === resolve(i.path));
    if (clash !== undefined) throw new InputError(`--out ${outDir}: drawing would overwrite the input image ${clash.path}; choose another directory`);
  }
  if (outDir !== null) mkdirSync(outDir, { recursive: true });
  const results: CocoDetection[] = [];
  const failures: InferFailure[] = [];
  let seconds = 0;
  for (let start = 0; start < inputs.length; start += opts.batchSize) {
    const t0 = performance.now();
    const wanted = inputs.slice(start, start + opts.batchSize);
    const settled = await Promise.allSettled(wanted.map((i) => prepareImage(i, opts.input, opts.decode)));
    const batch: PreparedImage[] = [];
    settled.forEach((r, k) => {
      if (r.status === 'fulfilled') batch.push(r.value);
      else if (r.reason instanceof InputError) failures.push({ path: wanted[k]!.path, imageId: wanted[k]!.imageId, message: r.reason.message });
      else throw r.reason;
    });
    if (batch.length > 0) {
      const tensor = imagesToTensor(batch, opts.input);
      let dets: ImageDetections[];
      try {
        dets = await detector.detect(tensor, batch.map((b) => [b.height, b.width]));
      } finally {
        tensor.dispose();
      }
      const kept = dets.map((d, i) => filterScore(toOriginal(d, batch[i]!), opts.scoreThreshold, opts.maxDetections));
      seconds += (performance.now() - t0) / 1000;
      for (let i = 0; i < batch.length; i++) {
        results.push(...toCocoResults(batch[i]!.input.imageId, kept[i]!, opts.categories.ids));
        if (outDir !== null && opts.draw) {
          const path = batch[i]!.input.path;
          const out = drawnPath(outDir, path);
          const drawn = await drawDetections(path, kept[i]!, opts.categories.names, { format: out.endsWith('.jpg') ? 'jpeg' : 'png' });
          writeFileSync(out, drawn);
        }
      }
    }
    opts.onProgress?.(wanted.length);
  }
  if (outDir !== null) writeResultsJson(join(outDir, 'results.json'), results);
  return { results, images: inputs.length - failures.length, failures, seconds };
}

/** Where the drawing of `imagePath` goes: same base name in `outDir`, .jpg for JPEG inputs, .png otherwise. */
export function drawnPath(outDir: string, imagePath: string): string {
  const jpeg = ['.jpg', '.jpeg'].includes(extname(imagePath).toLowerCase());
  return join(outDir, `${basename(imagePath, extname(imagePath))}.${jpeg ? 'jpg' : 'png'}`);
}

/** Keeps detections scoring at least `threshold`; with `maxDetections`, only that many best-scoring ones (in their order). */
export function filterScore(det: ImageDetections, threshold: number, maxDetections = Number.POSITIVE_INFINITY): ImageDetections {
  let keep = Array.from(det.scores.keys()).filter((i) => det.scores[i]! >= threshold);
  if (keep.length > maxDetections) {
    const best = new Set([...keep].sort((a, b) => det.scores[b]! - det.scores[a]! || a - b).slice(0, maxDetections));
    keep = keep.filter((i) => best.has(i));
  }
  const boxes = new Float32Array(keep.length * 4);
  keep.forEach((k, j) => boxes.set(det.boxes.subarray(4 * k, 4 * k + 4), 4 * j));
  return { boxes, scores: Float32Array.from(keep, (k) => det.scores[k]!), labels: Int32Array.from(keep, (k) => det.labels[k]!) };
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!.trim();
}
