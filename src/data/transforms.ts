import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { InputError } from '../util/errors.js';
import { normalisationTable, normalisedFloats, type Normalisation } from './normalise.js';
import type { DecodedImage } from './types.js';

export type { DecodedImage } from './types.js';

/**
 * Image transforms: decode with sharp (libvips), sizes, boxes. Pure functions of their inputs; no dataset, no
 * model. The pixels stay at their stored size here: the resize, the flip, the normalisation (0..1, then ImageNet
 * mean / std) and the padding happen on the tensor side, in `tensor.ts` (`batchToTensor`).
 *
 * - Decodes JPEG / PNG / WebP (whatever libvips reads); grayscale and CMYK come out as 3-channel sRGB, alpha is
 *   dropped. An empty, truncated or corrupt file is an InputError naming it.
 * - Sizes: the header is read first; an image above `maxImagePixels` is refused, and one above `maxDecodePixels`
 *   (16.8 MP by default) is shrunk while decoding, straight to its target size, so that its cost stays that of the
 *   network input.
 * - EXIF orientation is NOT applied: COCO boxes are in stored-pixel orientation, and so are our images.
 * - Resize rule (`resizedSize`): the shorter side becomes `minSize` unless the longer side would then exceed
 *   `maxSize`, in which case the longer side becomes `maxSize`; the other side is rounded to the nearest integer.
 *   The decoder computes the target size and hands it over with the stored pixels; `batchToTensor` resizes
 *   bilinearly exactly as torchvision's `interpolate(bilinear, align_corners=False)`, enlarging and shrinking.
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
  /** Resize rule for the target size (see `resizedSize`). */
  minSize: number;
  maxSize: number;
  /** Passed through: the flip itself happens in `batchToTensor` (or with `normalise`). */
  flip: boolean;
  /**
   * Also make the network input floats (normalised, flipped, stored size; `DecodedImage.input`), so that this
   * work happens on the decoder's thread rather than in `batchToTensor`.
   */
  normalise?: Normalisation;
  /**
   * Images of more pixels than this are shrunk while they are decoded, straight to the target size (libvips'
   * shrink-on-load and a Lanczos reduce), instead of decoding at full size and resizing on the tensor side.
   * Default {@link DEFAULT_MAX_DECODE_PIXELS}.
   */
  maxDecodePixels?: number;
  /** Images of more pixels than this are refused (an InputError naming the file). Default {@link DEFAULT_MAX_IMAGE_PIXELS}. */
  maxImagePixels?: number;
}

/**
 * 2^24 pixels (16.8 MP, e.g. 4096 x 4096): COCO's images (at most 640 x 640) and most photos decode at full size,
 * so the resize is torchvision's bilinear one on the tensor side; an 8000 x 8000 image would otherwise cost its 192 MB
 * of bytes, 768 MB of floats and seconds of resize for an 800-pixel network input.
 */
export const DEFAULT_MAX_DECODE_PIXELS = 2 ** 24;

/** sharp's own default input limit (0x3FFF x 0x3FFF pixels): above it an image is refused, not decoded. */
export const DEFAULT_MAX_IMAGE_PIXELS = 0x3fff * 0x3fff;

/**
 * Reads and decodes one image at its stored size and computes its target size. Every failure that comes from
 * the file (missing, unreadable, corrupt, wrong size) is an `InputError` naming the file.
 */
export async function decodeImage(req: DecodeRequest): Promise<DecodedImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(req.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${req.path}: ${code === 'ENOENT' ? 'image file not found' : `cannot read image file (${code ?? (err as Error).message})`}`);
  }
  if (bytes.length === 0) throw new InputError(`${req.path}: cannot decode image (empty file, 0 bytes)`);
  const maxImagePixels = req.maxImagePixels ?? DEFAULT_MAX_IMAGE_PIXELS;
  // No autoOrient: pixels stay in stored orientation, whatever the EXIF tag says. failOn 'truncated': a truncated
  // file is an error (libjpeg would fill the rest with grey), while libjpeg's harmless warnings, such as the
  // "extraneous bytes before marker" a few COCO images carry, are not (PIL reads those too).
  const limit = Number.isFinite(maxImagePixels) ? Math.floor(maxImagePixels) : false;
  const open = (limitInputPixels: number | false): sharp.Sharp => sharp(bytes, { failOn: 'truncated', autoOrient: false, limitInputPixels });
  let meta: sharp.Metadata;
  try {
    // metadata() reads the header only: the size is known, and checked below, before any pixel is decoded.
    meta = await open(false).metadata();
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
  if (storedWidth * storedHeight > maxImagePixels) {
    throw new InputError(`${req.path}: image is ${storedWidth}x${storedHeight} (w x h), more than the ${maxImagePixels} pixels allowed (maxImagePixels)`);
  }
  const size = resizedSize(storedHeight, storedWidth, req.minSize, req.maxSize);
  // No shrink-on-load for ordinary sizes: libjpeg's DCT-domain shrink is not bilinear, so those decode at full size
  // and the tensor side resizes them exactly as torchvision does. Only a very large image is shrunk while decoding.
  const storedPixels = storedWidth * storedHeight;
  const shrink = storedPixels > (req.maxDecodePixels ?? DEFAULT_MAX_DECODE_PIXELS) && size.width * size.height < storedPixels;
  const decodedWidth = shrink ? size.width : storedWidth;
  const decodedHeight = shrink ? size.height : storedHeight;
  let data: Buffer;
  try {
    const pipeline = shrink ? open(limit).resize(decodedWidth, decodedHeight, { fit: 'fill' }) : open(limit);
    data = await rgb(pipeline, decodedWidth, decodedHeight);
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`${req.path}: ${err.message}`);
    throw new InputError(`${req.path}: cannot decode image (${oneLine(err)})`);
  }
  const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const decoded: DecodedImage = {
    pixels,
    decodedHeight,
    decodedWidth,
    height: size.height,
    width: size.width,
    originalHeight: storedHeight,
    originalWidth: storedWidth,
    flipped: req.flip,
  };
  if (req.normalise !== undefined) {
    const normalisation = { mean: req.normalise.mean.slice(), std: req.normalise.std.slice() };
    decoded.input = { floats: normalisedFloats(pixels, decodedHeight, decodedWidth, req.flip, normalisationTable(normalisation)), normalisation };
  }
  return decoded;
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
