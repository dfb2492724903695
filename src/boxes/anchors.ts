/**
 * RetinaNet anchors exactly as torchvision 0.14's `AnchorGenerator` with `_default_anchorgen()` makes them, so that
 * torchvision weights see the same anchors. Arithmetic is rounded to float32 where PyTorch computes in float32.
 *
 * Order of the flat output: level-major (P3 first), then row (y), then column (x), then cell anchor; the cell
 * anchors of one location are ratio-major (all scales of ratio 0 first).
 */

const f = Math.fround;

/**
 * Rounds half to even, as `torch.round` does (`Math.round` rounds half up): 22.5 -> 22, 23.5 -> 24, -22.5 -> -22.
 */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round sends exact halves up; pull them back down when that lands on an odd number.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The anchor sizes of one level: `trunc(size * scale)` for each scale. torchvision's RetinaNet builds them as
 * `(x, int(x * 2 ** (1 / 3)), int(x * 2 ** (2 / 3)))`, so 32 gives 32, 40, 50 (not 40.3, 50.8).
 */
export function levelSizes(size: number, scales: readonly number[]): number[] {
  return scales.map((scale) => Math.trunc(size * scale));
}

/**
 * Zero-centred cell anchors of one level -> `[A*4]` xyxy with `A = aspectRatios.length * scales.length`,
 * ratio-major. For ratio r (= h / w) and size s: `h = sqrt(r) * s`, `w = s / sqrt(r)`, the anchor is
 * `round([-w/2, -h/2, w/2, h/2])` rounded half to even.
 */
export function cellAnchors(size: number, scales: readonly number[], aspectRatios: readonly number[]): Float32Array {
  const sizes = levelSizes(size, scales).map(f);
  const out = new Float32Array(aspectRatios.length * sizes.length * 4);
  let k = 0;
  for (const ratio of aspectRatios) {
    if (!(ratio > 0)) throw new Error(`aspect ratio must be positive, got ${ratio}`);
    const hRatio = f(Math.sqrt(f(ratio)));
    const wRatio = f(1 / hRatio);
    for (const s of sizes) {
      const w = f(wRatio * s);
      const h = f(hRatio * s);
      out[k++] = roundHalfEven(-w / 2);
      out[k++] = roundHalfEven(-h / 2);
      out[k++] = roundHalfEven(w / 2);
      out[k++] = roundHalfEven(h / 2);
    }
  }
  return out;
}

/** Everything the anchor grid of a batch depends on. */
export interface AnchorOptions {
  /** Base size per level (P3..P7: 32, 64, 128, 256, 512). */
  sizes: readonly number[];
  /** Multipliers of the base size within a level (1, 2^(1/3), 2^(2/3)); each size is truncated to an integer. */
  scales: readonly number[];
  /** h / w ratios (0.5, 1, 2). */
  aspectRatios: readonly number[];
  /** Size of the padded batch tensor, not of one image. */
  imageHeight: number;
  imageWidth: number;
  /** `[h, w]` of each level's feature map, P3 first. */
  featureSizes: readonly (readonly [number, number])[];
}

/** Cell anchors per location (the same on every level): scales x ratios. */
export function anchorsPerLocation(opts: Pick<AnchorOptions, 'scales' | 'aspectRatios'>): number {
  return opts.scales.length * opts.aspectRatios.length;
}

/** Number of anchors of each level: `h * w * anchorsPerLocation`. */
export function anchorsPerLevel(opts: Pick<AnchorOptions, 'scales' | 'aspectRatios' | 'featureSizes'>): number[] {
  const a = anchorsPerLocation(opts);
  return opts.featureSizes.map(([h, w]) => h * w * a);
}

/**
 * All anchors of a padded batch -> `[totalAnchors*4]` xyxy, level-major, then y, then x, then cell anchor.
 * Level l's stride is `imageHeight // h` and `imageWidth // w` per axis (at 320 px P7 has 3x3 cells and stride 106);
 * the anchor at cell (y, x) is the cell anchor shifted by `(x * strideW, y * strideH)`, with no half-stride offset.
 */
export function generateAnchors(opts: AnchorOptions): Float32Array {
  if (opts.sizes.length !== opts.featureSizes.length) {
    throw new Error(`anchors: ${opts.sizes.length} sizes for ${opts.featureSizes.length} feature maps`);
  }
  const counts = anchorsPerLevel(opts);
  const out = new Float32Array(counts.reduce((a, b) => a + b, 0) * 4);
  let k = 0;
  opts.featureSizes.forEach(([gridH, gridW], level) => {
    const cell = cellAnchors(opts.sizes[level]!, opts.scales, opts.aspectRatios);
    const strideH = Math.floor(opts.imageHeight / gridH);
    const strideW = Math.floor(opts.imageWidth / gridW);
    for (let y = 0; y < gridH; y++) {
      const sy = y * strideH;
      for (let x = 0; x < gridW; x++) {
        const sx = x * strideW;
        for (let c = 0; c < cell.length; c += 4) {
          out[k++] = sx + cell[c]!;
          out[k++] = sy + cell[c + 1]!;
          out[k++] = sx + cell[c + 2]!;
          out[k++] = sy + cell[c + 3]!;
        }
      }
    }
  });
  return out;
}

/** Splits a flat per-anchor array (`width` values per anchor) into one view per level. */
export function splitLevels<T extends Float32Array | Int32Array>(values: T, counts: readonly number[], width: number): T[] {
  const out: T[] = [];
  let start = 0;
  for (const count of counts) {
    out.push(values.subarray(start * width, (start + count) * width) as T);
    start += count;
  }
  if (start * width !== values.length) throw new Error(`splitLevels: ${values.length / width} rows for ${start} anchors`);
  return out;
}
