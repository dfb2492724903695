/**
 * What the data pipeline hands to training and evaluation. Boxes are xyxy in the pixels of the resized image.
 */

import type { Normalisation } from './normalise.js';

/**
 * A decoded RGB image at its stored size, with the size it is to be resized to and whether it is to be flipped:
 * `batchToTensor` applies both on the tensor side.
 */
export interface DecodedImage {
  /** [decodedHeight * decodedWidth * 3] RGB bytes, row-major, as stored: not resized, not flipped. */
  pixels: Uint8Array;
  /**
   * Size of `pixels`: the stored size (originalHeight / originalWidth), or the target size (height / width) for an
   * image so large that it was shrunk while decoding (see `DecodeRequest.maxDecodePixels`).
   */
  decodedHeight: number;
  decodedWidth: number;
  /** Size after the resize: what the network sees before padding, and what the boxes refer to. */
  height: number;
  width: number;
  /** Size stated in the annotation file (and of the stored image). */
  originalHeight: number;
  originalWidth: number;
  /** To be mirrored horizontally (the boxes already are; the pixels are in `batchToTensor`). */
  flipped: boolean;
  /**
   * `pixels` already normalised with `normalisation` (and mirrored when flipped), [decodedHeight * decodedWidth * 3]:
   * made by a decoder worker when it was given the normalisation, so that `batchToTensor` (used with the same mean
   * and std) only resizes and pads.
   */
  input?: { floats: Float32Array; normalisation: Normalisation };
}

/** One decoded image and its targets; the boxes are in the resized (and flipped) image's coordinates. */
export interface Sample extends DecodedImage {
  imageId: number;
  /** Per-axis factors: resized size / original size. */
  scaleY: number;
  scaleX: number;
  /** [M * 4] xyxy ground-truth boxes (non-crowd, non-degenerate), resized coordinates. */
  boxes: Float32Array;
  /** [M] contiguous labels 0..K-1. */
  labels: Int32Array;
  /** [G * 4] xyxy crowd regions: anchors matched to them are ignored, never positives. */
  crowdBoxes: Float32Array;
}

/** A batch: samples of possibly different sizes, to be padded to (paddedHeight, paddedWidth). */
export interface Batch {
  samples: Sample[];
  /** Largest height / width in the batch, rounded up to the size divisor. */
  paddedHeight: number;
  paddedWidth: number;
}
