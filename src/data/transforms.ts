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
 *   the longer side becomes `maxSize`; the other side is rounded to the nearest integer. Bilinear (libvips'
 *   `linear` kernel; when shrinking, libvips widens the kernel over the shrink factor, i.e. antialiased).
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
  // No autoOrient: pixels stay in stored orientation, whatever the EXIF tag says. failOn 'error' would let
  // truncated JPEGs through with grey bottoms; 'warning' (sharp's default) rejects them.
  const image = sharp(bytes, { failOn: 'warning', autoOrient: false });
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
  let pipeline = image;
  if (size.width !== storedWidth || size.height !== storedHeight) {
    pipeline = pipeline.resize(size.width, size.height, { kernel: 'linear', fit: 'fill' });
  }
  if (req.flip) pipeline = pipeline.flop();
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await pipeline.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new InputError(`${req.path}: cannot decode image (${oneLine(err)})`);
  }
  const { data, info } = out;
  if (info.channels !== 3 || info.width !== size.width || info.height !== size.height) {
    throw new InputError(`${req.path}: decoded to ${info.width}x${info.height}x${info.channels}, expected ${size.width}x${size.height}x3`);
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
