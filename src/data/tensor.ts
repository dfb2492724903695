import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from './types.js';

/**
 * Turns a batch of raw RGB samples into the network input:
 *   out[n, y, x, c] = (pixels[y, x, c] / 255 - mean[c]) / std[c]   inside sample n's image,
 *   out[n, y, x, c] = 0                                              in the padding (right and bottom),
 * i.e. zero padding AFTER normalisation, as torchvision does.
 *
 * The JS side only copies bytes: each sample's rows go into one float buffer of the padded batch shape whose
 * padding holds 255 * mean[c] (so that normalising it gives exactly 0). The normalisation itself is one tensor op
 * on the active backend (a per-channel affine, expressed as `batchNorm` with fixed statistics).
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
  const rowFloats = pw * 3;
  // Every element is written exactly once below, so the buffer need not be zeroed first.
  const bytes = Buffer.allocUnsafe(n * ph * rowFloats * 4);
  const buffer = new Float32Array(bytes.buffer, bytes.byteOffset, n * ph * rowFloats);
  // Padding value 255 * mean[c]: one padded row of it, copied where padding goes (native copies).
  const padPixel = Float32Array.of(255 * mean[0]!, 255 * mean[1]!, 255 * mean[2]!);
  const padRow = new Float32Array(rowFloats);
  padRow.set(padPixel, 0);
  for (let filled = 3; filled < rowFloats; filled *= 2) padRow.copyWithin(filled, 0, Math.min(filled, rowFloats - filled));
  for (let i = 0; i < n; i++) {
    const s = batch.samples[i]!;
    if (s.height > ph || s.width > pw) {
      throw new RangeError(`batchToTensor: sample ${s.imageId} is ${s.width}x${s.height}, larger than the padded ${pw}x${ph}`);
    }
    if (s.pixels.length !== s.height * s.width * 3) {
      throw new RangeError(`batchToTensor: sample ${s.imageId} has ${s.pixels.length} bytes, expected ${s.height * s.width * 3}`);
    }
    const base = i * ph * rowFloats;
    const srcRow = s.width * 3;
    if (s.width === pw) {
      buffer.set(s.pixels, base); // contiguous rows: one native uint8 -> float32 copy
    } else {
      const tail = padRow.subarray(0, rowFloats - srcRow);
      for (let y = 0; y < s.height; y++) {
        buffer.set(s.pixels.subarray(y * srcRow, (y + 1) * srcRow), base + y * rowFloats);
        buffer.set(tail, base + y * rowFloats + srcRow);
      }
    }
    for (let y = s.height; y < ph; y++) buffer.set(padRow, base + y * rowFloats);
  }
  return tf.tidy(() => {
    const raw = tf.tensor4d(buffer, [n, ph, pw, 3], 'float32');
    const shift = tf.tensor1d(padPixel, 'float32'); // 255 * mean, the same float32 values as the padding
    const scale = tf.tensor1d([1 / (255 * std[0]!), 1 / (255 * std[1]!), 1 / (255 * std[2]!)], 'float32');
    const one = tf.onesLike(shift);
    // batchNorm(x, mean, variance, offset, scale, eps) = (x - mean) * scale / sqrt(variance + eps) + offset
    return tf.batchNorm4d(raw, shift, one, undefined, scale, 0);
  });
}
