/**
 * Bytes -> network input floats, on any thread (no tfjs here, so decode workers can use it):
 * out = (byte / 255 - mean[c]) / std[c], mirrored horizontally when asked. `batchToTensor` resizes the result.
 */

/** Per-channel normalisation of 0..1 RGB (torchvision: mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]). */
export interface Normalisation {
  mean: readonly number[];
  std: readonly number[];
}

/** Byte v of channel c -> (v / 255 - mean[c]) / std[c] as float32, at index 256 c + v: [768]. */
export function normalisationTable(norm: Normalisation): Float32Array {
  const { mean, std } = norm;
  if (mean.length !== 3 || std.length !== 3) throw new RangeError('normalisation: mean and std need 3 values (RGB)');
  const t = new Float32Array(768);
  for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) t[256 * c + v] = (v / 255 - mean[c]!) / std[c]!;
  return t;
}

/** Same mean and std, value for value. */
export function sameNormalisation(a: Normalisation, b: Normalisation): boolean {
  return a.mean.length === b.mean.length && a.std.length === b.std.length && a.mean.every((v, i) => v === b.mean[i]) && a.std.every((v, i) => v === b.std[i]);
}

/**
 * RGB bytes [height * width * 3] as normalised floats, mirrored horizontally when `flip`: [height * width * 3].
 * One flat table (not three) keeps the loop as fast as a plain uint8 -> float32 copy.
 */
export function normalisedFloats(pixels: Uint8Array, height: number, width: number, flip: boolean, table: Float32Array): Float32Array {
  const t = table;
  const p = pixels;
  const out = new Float32Array(p.length);
  const step = flip ? -3 : 3;
  for (let y = 0; y < height; y++) {
    let i = y * width * 3;
    const end = i + width * 3;
    let o = flip ? end - 3 : i;
    for (; i < end; i += 3, o += step) {
      out[o] = t[p[i]!]!;
      out[o + 1] = t[256 + p[i + 1]!]!;
      out[o + 2] = t[512 + p[i + 2]!]!;
    }
  }
  return out;
}
