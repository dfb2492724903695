import * as tf from '@tensorflow/tfjs-core';
import { normalisationTable, normalisedFloats, sameNormalisation, type Normalisation } from './normalise.js';
import type { Batch, Sample } from './types.js';

/**
 * Turns a batch of decoded samples (stored-size RGB bytes) into the network input:
 *   out[n] = pad(resize(flip?((pixels / 255 - mean) / std), [height, width]), [paddedHeight, paddedWidth])
 * with zero padding (right and bottom) AFTER normalisation, as torchvision does.
 *
 * The resize is `tf.image.resizeBilinear(x, size, alignCorners false, halfPixelCenters true)`: output pixel X
 * samples input x = (X + 0.5) * in / out - 0.5, clamped at the edges, no antialias, the same for enlarging and
 * shrinking: exactly torchvision's `interpolate(mode='bilinear', align_corners=False)` (tested against a PyTorch
 * fixture). The normalisation and the flip are applied before the resize, at the stored size, where they cost
 * least (or the decoder already did it, on its worker thread: `Sample.input`): bilinear weights sum to 1, so a per-channel affine map commutes with the resize, and on the centre-aligned
 * grid a horizontal flip does too (the mirrored output column samples the mirrored input position). Both are one
 * table lookup per byte in the copy that turns the bytes into floats anyway; the resize and the padding are tensor
 * ops on the active backend (on a GPU backend they leave the CPU).
 *
 * @param mean per-channel mean of 0..1 RGB (torchvision: [0.485, 0.456, 0.406])
 * @param std per-channel std of 0..1 RGB (torchvision: [0.229, 0.224, 0.225])
 * @returns [N, paddedHeight, paddedWidth, 3] float32
 */
export function batchToTensor(
  batch: Batch,
  mean: readonly [number, number, number] | readonly number[],
  std: readonly [number, number, number] | readonly number[],
): tf.Tensor4D {
  const n = batch.samples.length;
  const ph = batch.paddedHeight;
  const pw = batch.paddedWidth;
  if (n === 0) throw new RangeError('batchToTensor: empty batch');
  if (mean.length !== 3 || std.length !== 3) throw new RangeError('batchToTensor: mean and std need 3 values (RGB)');
  for (const s of batch.samples) {
    if (s.height > ph || s.width > pw) {
      throw new RangeError(`batchToTensor: sample ${s.imageId} is ${s.width}x${s.height}, larger than the padded ${pw}x${ph}`);
    }
    if (s.pixels.length !== s.decodedHeight * s.decodedWidth * 3) {
      throw new RangeError(`batchToTensor: sample ${s.imageId} has ${s.pixels.length} bytes, expected ${s.decodedHeight * s.decodedWidth * 3}`);
    }
  }
  const norm: Normalisation = { mean, std };
  let table: Float32Array | null = null;
  /** The sample's normalised (and flipped) floats: made by the decoder when it was asked to, else here. */
  const floats = (s: Sample): Float32Array => {
    if (s.input !== undefined && sameNormalisation(s.input.normalisation, norm)) return s.input.floats;
    table ??= normalisationTable(norm);
    return normalisedFloats(s.pixels, s.decodedHeight, s.decodedWidth, s.flipped, table);
  };
  return tf.tidy(() => {
    // Consecutive samples of one stored and one target size (the common case: aspect-grouped batches of COCO's
    // 640x480 images) go through one resize and one padding as a group.
    const groups = sameSizeRuns(batch.samples).map((run) => {
      const first = run[0]!;
      const [dh, dw] = [first.decodedHeight, first.decodedWidth];
      const size = dh * dw * 3;
      const data = run.length === 1 ? floats(first) : new Float32Array(size * run.length);
      if (run.length > 1) run.forEach((s, i) => data.set(floats(s), i * size));
      const input = tf.tensor4d(data, [run.length, dh, dw, 3], 'float32');
      const resized = first.height === dh && first.width === dw ? input : tf.image.resizeBilinear(input, [first.height, first.width], false, true);
      return padBottomRight(resized, ph, pw);
    });
    return groups.length === 1 ? groups[0]! : tf.concat4d(groups, 0);
  });
}

/** Splits samples into runs of consecutive samples with the same stored and target sizes, in order. */
function sameSizeRuns(samples: readonly Sample[]): Sample[][] {
  const runs: Sample[][] = [];
  for (const s of samples) {
    const last = runs[runs.length - 1]?.[0];
    const same = last !== undefined && last.decodedHeight === s.decodedHeight && last.decodedWidth === s.decodedWidth && last.height === s.height && last.width === s.width;
    if (same) runs[runs.length - 1]!.push(s);
    else runs.push([s]);
  }
  return runs;
}

/** Zero padding on the right and at the bottom: [k, h, w, 3] -> [k, ph, pw, 3] (concat: cheaper than pad on wasm). */
function padBottomRight(x: tf.Tensor4D, ph: number, pw: number): tf.Tensor4D {
  const [k, h, w, c] = x.shape;
  let out = x;
  if (w < pw) out = tf.concat4d([out, tf.zeros<tf.Rank.R4>([k, h, pw - w, c])], 2);
  if (h < ph) out = tf.concat4d([out, tf.zeros<tf.Rank.R4>([k, ph - h, pw, c])], 1);
  return out;
}
