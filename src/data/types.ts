/**
 * What the data pipeline hands to training and evaluation. Boxes are xyxy in the pixels of the resized image.
 */

/** One image after decode, resize and flip: raw RGB bytes, normalised later on the tensor side. */
export interface Sample {
  imageId: number;
  /** [height * width * 3] RGB, row-major, after resize and flip. */
  pixels: Uint8Array;
  height: number;
  width: number;
  /** Size stated in the annotation file (and of the stored image). */
  originalHeight: number;
  originalWidth: number;
  /** Per-axis factors: resized size / original size. */
  scaleY: number;
  scaleX: number;
  flipped: boolean;
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
