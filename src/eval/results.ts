/**
 * COCO results JSON: the detection records a detector writes and the evaluator reads.
 * Boxes are COCO `xywh` pixels here, at the edge; the detector works in `xyxy` inside.
 */
import { writeFileSync, renameSync } from 'node:fs';
import { allocDetectionSet, type DetectionSet } from './cocoeval.js';

/** One detection in a COCO results file. */
export interface CocoDetection {
  image_id: number;
  /** COCO category id (sparse, 1..90 for COCO 2017), not the contiguous label. */
  category_id: number;
  /** `[x, y, w, h]` in pixels of the original image. */
  bbox: [number, number, number, number];
  score: number;
}

/** `[x1, y1, x2, y2]` -> COCO `[x, y, w, h]`. */
export function xyxyToXywh(box: readonly [number, number, number, number] | readonly number[]): [number, number, number, number] {
  const [x1, y1, x2, y2] = box as [number, number, number, number];
  return [x1, y1, x2 - x1, y2 - y1];
}

/**
 * Builds COCO detections from a detector's per-image output.
 * @param imageId COCO image id.
 * @param boxesXyxy `[N * 4]` boxes `x1, y1, x2, y2` in original-image pixels.
 * @param scores `[N]` scores.
 * @param categoryIds `[N]` COCO category ids (already mapped back from contiguous labels).
 */
export function detectionsForImage(imageId: number, boxesXyxy: ArrayLike<number>, scores: ArrayLike<number>, categoryIds: ArrayLike<number>): CocoDetection[] {
  const out: CocoDetection[] = [];
  for (let j = 0; j < scores.length; j++) {
    const x1 = boxesXyxy[4 * j]!;
    const y1 = boxesXyxy[4 * j + 1]!;
    out.push({
      image_id: imageId,
      category_id: categoryIds[j]!,
      bbox: [x1, y1, boxesXyxy[4 * j + 2]! - x1, boxesXyxy[4 * j + 3]! - y1],
      score: scores[j]!,
    });
  }
  return out;
}

/** COCO detections -> the evaluator's columnar set (ids 1..N in this order, as pycocotools' `loadRes`). */
export function toDetectionSet(dets: readonly CocoDetection[]): DetectionSet {
  const n = dets.length;
  const set = allocDetectionSet(n);
  dets.forEach((d, j) => {
    set.imageId[j] = d.image_id;
    set.categoryId[j] = d.category_id;
    set.bbox.set(d.bbox, 4 * j);
    set.score[j] = d.score;
  });
  return set;
}

/** Results JSON text: one detection per line inside a JSON array (diff-friendly, parseable by pycocotools). */
export function formatResultsJson(dets: readonly CocoDetection[]): string {
  if (dets.length === 0) return '[]\n';
  const lines = dets.map((d) => JSON.stringify({ image_id: d.image_id, category_id: d.category_id, bbox: d.bbox, score: d.score }));
  return `[\n${lines.join(',\n')}\n]\n`;
}

/** Writes a results JSON file atomically (temporary file, then rename). */
export function writeResultsJson(path: string, dets: readonly CocoDetection[]): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, formatResultsJson(dets));
  renameSync(tmp, path);
}
