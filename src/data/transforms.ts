import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { InputError } from '../util/errors.js';

/**
 * Image transforms with sharp (libvips): decode, resize, flip. Pure functions of their inputs; no dataset, no
 * model. Normalisation (0..1, then ImageNet mean / std) happens on the tensor side, in `tensor.ts`.
 *
 * - Decodes JPEG / PNG / WebP (whatever libvips reads); grayscale and CMYK come out as 3-channel sRGB, alpha is
 *   dropped.
 * - EXIF orientation is NOT applied: COCO boxes are in stored-pixel orientation, and so are our images.
 * - Resize: the shorter side becomes `minSize` unless the longer side would then exceed `maxSize`, in which case
 *   the longer side becomes `maxSize`; the other side is rounded to the nearest integer. Bilinear: enlarging
 *   (COCO at 800) equals torchvision's `interpolate(bilinear, align_corners=False)` up to uint8 rounding;
 *   shrinking uses libvips' linear kernel widened over the shrink factor (antialiased).
 * - Boxes are scaled per axis by (new size / original size), exactly as the image.
 */

/** Output size for an image of `height x width`: shorter side `minSize`, longer side at most `maxSize`. */
export function resizedSize(height: number, width: number, minSize: number, maxSize: number): { height: number; width: number } {
  if (!(minSize > 0) || !(maxSize > 0)) throw new RangeError(`resize sizes must be positive (min ${minSize}, max ${maxSize})`);
  const short = Math.min(height, width);
  const long = Math.max(height, width);
  let newShort: number;
  let newLong: number;
  if ((long * minSize) / short <= maxSize) {
    newShort = minSize;
    newLong = Math.max(1, Math.round((long * minSize) / short));
  } else {
    newLong = maxSize;
    newShort = Math.max(1, Math.round((short * maxSize) / long));
  }
  return height <= width ? { height: newShort, width: newLong } : { height: newLong, width: newShort };
}

/** What to decode and how: everything a worker thread needs, as plain data. */
export interface DecodeRequest {
  path: string;
  /** The size the annotation file states; a stored image of another size is an error. */
  expectedWidth: number;
  expectedHeight: number;
  minSize: number;
  maxSize: number;
  flip: boolean;
}

/** A decoded, resized (and maybe flipped) RGB image. */
export interface DecodedImage {
  /** [height * width * 3] RGB bytes, row-major. */
  pixels: Uint8Array;
  height: number;
  width: number;
  originalHeight: number;
  originalWidth: number;
  flipped: boolean;
}

/**
 * Reads, decodes, resizes and flips one image. Every failure that comes from the file (missing, unreadable,
 * corrupt, wrong size) is an `InputError` naming the file.
 */
export async function decodeImage(req: DecodeRequest): Promise<DecodedImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(req.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${req.path}: ${code === 'ENOENT' ? 'image file not found' : `cannot read image file (${code ?? (err as Error).message})`}`);
  }
  // No autoOrient: pixels stay in stored orientation, whatever the EXIF tag says. failOn 'truncated': a truncated
  // file is an error (libjpeg would fill the rest with grey), while libjpeg's harmless warnings, such as the
  // "extraneous bytes before marker" a few COCO images carry, are not (PIL reads those too).
  const image = sharp(bytes, { failOn: 'truncated', autoOrient: false });
  let meta: sharp.Metadata;
  try {
    meta = await image.metadata();
  } catch (err) {
    throw new InputError(`${req.path}: cannot decode image (${oneLine(err)})`);
  }
  const storedWidth = meta.width;
  const storedHeight = meta.height;
  if (storedWidth !== req.expectedWidth || storedHeight !== req.expectedHeight) {
    throw new InputError(
      `${req.path}: stored image is ${storedWidth}x${storedHeight} (w x h) but the annotation file says ${req.expectedWidth}x${req.expectedHeight}`,
    );
  }
  const size = resizedSize(storedHeight, storedWidth, req.minSize, req.maxSize);
  const enlarge = size.width >= storedWidth && size.height >= storedHeight && (size.width > storedWidth || size.height > storedHeight);
  let data: Buffer;
  try {
    data = enlarge
      ? await enlargeBilinear(image, storedWidth, storedHeight, size.width, size.height, req.flip)
      : await shrinkOrCopy(image, storedWidth, storedHeight, size.width, size.height, req.flip);
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`${req.path}: ${err.message}`);
    throw new InputError(`${req.path}: cannot decode image (${oneLine(err)})`);
  }
  return {
    pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    height: size.height,
    width: size.width,
    originalHeight: storedHeight,
    originalWidth: storedWidth,
    flipped: req.flip,
  };
}

/** Decoded RGB bytes of `pipeline`, checked to have 3 channels and the given size. */
async function rgb(pipeline: sharp.Sharp, width: number, height: number): Promise<Buffer> {
  const { data, info } = await pipeline.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== width || info.height !== height || data.length !== width * height * 3) {
    throw new InputError(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x3 bytes`);
  }
  return data;
}

/**
 * Shrinking (or keeping the size): libvips' resize with the linear kernel. Its sampling grid is pixel-centre
 * aligned and, when shrinking, the kernel is widened over the shrink factor (antialiased, like torchvision's
 * `interpolate(..., antialias=True)` and PIL).
 */
async function shrinkOrCopy(image: sharp.Sharp, w: number, h: number, outW: number, outH: number, flip: boolean): Promise<Buffer> {
  let p = image;
  if (outW !== w || outH !== h) p = p.resize(outW, outH, { kernel: 'linear', fit: 'fill' });
  if (flip) p = p.flop();
  return rgb(p, outW, outH);
}

/**
 * Enlarging: bilinear interpolation on the pixel-centre grid, exactly torchvision's
 * `interpolate(mode='bilinear', align_corners=False)`: output pixel X samples input x = (X + 0.5) / s - 0.5,
 * clamped at the edges. (libvips' own resize enlarges on a grid shifted by half an output pixel, which would move
 * the content against the scaled boxes.) Two libvips passes: decode with a 1-pixel replicated border (the edge
 * clamp), then an affine map X = s * (x' - 1) + (s - 1) / 2 on the bordered image; the top-left outW x outH of its
 * output is the result.
 */
async function enlargeBilinear(image: sharp.Sharp, w: number, h: number, outW: number, outH: number, flip: boolean): Promise<Buffer> {
  const bordered = await rgb(image.extend({ top: 1, bottom: 1, left: 1, right: 1, extendWith: 'copy' }), w + 2, h + 2);
  const sx = outW / w;
  const sy = outH / h;
  // A flip of the (symmetrically bordered) input commutes with the centre-aligned map: flop it first.
  let p = sharp(bordered, { raw: { width: w + 2, height: h + 2, channels: 3 } }).affine([sx, 0, 0, sy], {
    interpolator: sharp.interpolators.bilinear,
    idx: -1,
    idy: -1,
    odx: (sx - 1) / 2,
    ody: (sy - 1) / 2,
  });
  if (flip) p = p.flop();
  const { data: full, info } = await p.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width < outW || info.height < outH) {
    throw new InputError(`resized to ${info.width}x${info.height}x${info.channels}, expected at least ${outW}x${outH}x3`);
  }
  if (info.width === outW) return full.subarray(0, outW * outH * 3);
  const out = Buffer.allocUnsafe(outW * outH * 3);
  const rowIn = info.width * 3;
  const rowOut = outW * 3;
  for (let y = 0; y < outH; y++) full.copy(out, y * rowOut, y * rowIn, y * rowIn + rowOut);
  return out;
}

/**
 * Maps xyxy boxes from original pixels to the resized (and maybe flipped) image:
 * x' = x * scaleX, y' = y * scaleY, then for a flip x1'' = width - x2', x2'' = width - x1'.
 * @param boxes [M * 4] xyxy in original pixels
 * @param width width of the resized image (the flip axis)
 * @returns a new [M * 4] array
 */
export function transformBoxes(boxes: Float32Array, scaleX: number, scaleY: number, flip: boolean, width: number): Float32Array {
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    const x1 = boxes[i]! * scaleX;
    const y1 = boxes[i + 1]! * scaleY;
    const x2 = boxes[i + 2]! * scaleX;
    const y2 = boxes[i + 3]! * scaleY;
    out[i] = flip ? width - x2 : x1;
    out[i + 1] = y1;
    out[i + 2] = flip ? width - x1 : x2;
    out[i + 3] = y2;
  }
  return out;
}

/** Rounds `size` up to a multiple of `divisor` (divisor 0 or 1: unchanged). */
export function padTo(size: number, divisor: number): number {
  return divisor > 1 ? Math.ceil(size / divisor) * divisor : size;
}

function oneLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!.trim();
}
