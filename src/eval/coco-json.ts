/**
 * Reading and validating COCO ground-truth (instances_*.json) and results JSON into the evaluator's columnar sets.
 * Every problem is an {@link InputError} naming the file, the index and the field.
 */
import { readFileSync } from 'node:fs';
import { inputError } from '../util/errors.js';
import type { DetectionSet, GroundTruthSet } from './cocoeval.js';
import { scanDetections } from './results-scan.js';

/** A loaded ground truth plus the category names (for tables). */
export interface LoadedGroundTruth extends GroundTruthSet {
  /** Category id -> name (`categories[].name`, or the id as text when absent). */
  categoryNames: Map<number, string>;
  /** Category id -> `categories[].supercategory`, for the categories that declare one as a string (error analysis). */
  superCategories: Map<number, string>;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Reads a text file; a missing or unreadable file is an InputError naming it. */
function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw inputError(path, code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? String(err)})`);
  }
}

/** Reads a file and parses it as JSON; a missing file or malformed JSON is an InputError naming the file. */
export function readJsonFile(path: string): unknown {
  return parseJson(readText(path), path);
}

/** Parses JSON text; malformed JSON is an InputError naming `file`. */
export function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw inputError(file, `malformed JSON: ${(err as Error).message.split('\n')[0]}`);
  }
}

function isObject(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function arrayField(root: { [key: string]: Json }, key: string, file: string): Json[] {
  const v = root[key];
  if (v === undefined) throw inputError(file, 'missing key', { field: key });
  if (!Array.isArray(v)) throw inputError(file, `must be an array, got ${kind(v)}`, { field: key });
  return v;
}

function kind(v: Json | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return typeof v === 'number' ? `number ${String(v)}` : `${typeof v} ${short(v)}`;
}

function short(v: Json): string {
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function entry(list: Json[], index: number, file: string, field: string): { [key: string]: Json } {
  const v = list[index];
  if (!isObject(v)) throw inputError(file, `must be an object, got ${kind(v)}`, { index, field });
  return v;
}

function finiteNumber(obj: { [key: string]: Json }, key: string, file: string, index: number, field: string): number {
  const v = obj[key];
  if (v === undefined) throw inputError(file, 'missing key', { index, field });
  if (typeof v !== 'number' || !Number.isFinite(v)) throw inputError(file, `must be a finite number, got ${kind(v)}`, { index, field });
  return v;
}

/** Reads `[x, y, w, h]`: 4 finite numbers with w, h >= 0, into `out[4 * j ..]`. */
function bbox(obj: { [key: string]: Json }, file: string, index: number, field: string, out: Float64Array, j: number): void {
  const v = obj.bbox;
  if (v === undefined) throw inputError(file, 'missing key', { index, field });
  if (!Array.isArray(v) || v.length !== 4 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw inputError(file, `must be 4 finite numbers [x, y, w, h], got ${short(v)}`, { index, field });
  }
  const [x, y, w, h] = v as [number, number, number, number];
  if (w < 0 || h < 0) throw inputError(file, `width and height must be >= 0, got [${x}, ${y}, ${w}, ${h}]`, { index, field });
  out[4 * j] = x;
  out[4 * j + 1] = y;
  out[4 * j + 2] = w;
  out[4 * j + 3] = h;
}

/**
 * Validates a parsed COCO instances file: `images[].id`, `categories[].id` (and optional `name`),
 * `annotations[]` with `id`, `image_id`, `category_id`, `bbox`, `area` and optional `iscrowd` (0 when absent).
 * Annotation ids must be unique; image and category ids must be declared.
 */
export function groundTruthFromJson(parsed: unknown, file: string): LoadedGroundTruth {
  const root = parsed as Json;
  if (!isObject(root)) throw inputError(file, `ground truth must be a JSON object, got ${kind(root)}`);
  const images = arrayField(root, 'images', file);
  const categories = arrayField(root, 'categories', file);
  const annotations = arrayField(root, 'annotations', file);

  const imageIds: number[] = [];
  const imageSet = new Set<number>();
  images.forEach((_, index) => {
    const id = finiteNumber(entry(images, index, file, 'images'), 'id', file, index, 'images.id');
    imageIds.push(id);
    imageSet.add(id);
  });
  const categoryIds: number[] = [];
  const categoryNames = new Map<number, string>();
  const superCategories = new Map<number, string>();
  categories.forEach((_, index) => {
    const cat = entry(categories, index, file, 'categories');
    const id = finiteNumber(cat, 'id', file, index, 'categories.id');
    const name = cat.name;
    if (name !== undefined && typeof name !== 'string') throw inputError(file, `must be a string, got ${kind(name)}`, { index, field: 'categories.name' });
    const superCategory = cat.supercategory;
    categoryIds.push(id);
    categoryNames.set(id, name ?? String(id));
    if (typeof superCategory === 'string') superCategories.set(id, superCategory);
  });

  const n = annotations.length;
  const cols = {
    id: new Float64Array(n),
    imageId: new Float64Array(n),
    categoryId: new Float64Array(n),
    bbox: new Float64Array(4 * n),
    area: new Float64Array(n),
    iscrowd: new Uint8Array(n),
  };
  const annIds = new Set<number>();
  for (let index = 0; index < n; index++) {
    const ann = entry(annotations, index, file, 'annotations');
    const id = finiteNumber(ann, 'id', file, index, 'annotations.id');
    if (annIds.has(id)) throw inputError(file, `duplicate annotation id ${id}`, { index, field: 'annotations.id' });
    annIds.add(id);
    const imageId = finiteNumber(ann, 'image_id', file, index, 'annotations.image_id');
    if (!imageSet.has(imageId)) throw inputError(file, `unknown image id ${imageId} (not in "images")`, { index, field: 'annotations.image_id' });
    const categoryId = finiteNumber(ann, 'category_id', file, index, 'annotations.category_id');
    if (!categoryNames.has(categoryId)) throw inputError(file, `unknown category id ${categoryId} (not in "categories")`, { index, field: 'annotations.category_id' });
    bbox(ann, file, index, 'annotations.bbox', cols.bbox, index);
    const area = finiteNumber(ann, 'area', file, index, 'annotations.area');
    const crowd = ann.iscrowd;
    if (crowd !== undefined && crowd !== 0 && crowd !== 1 && typeof crowd !== 'boolean') {
      throw inputError(file, `must be 0 or 1, got ${kind(crowd)}`, { index, field: 'annotations.iscrowd' });
    }
    cols.id[index] = id;
    cols.imageId[index] = imageId;
    cols.categoryId[index] = categoryId;
    cols.area[index] = area;
    cols.iscrowd[index] = crowd === 1 || crowd === true ? 1 : 0;
  }
  return { imageIds, categoryIds, annotations: cols, categoryNames, superCategories };
}

/**
 * Validates a parsed COCO results file (pycocotools `loadRes` for boxes): an array of
 * `{image_id, category_id, bbox: [x, y, w, h], score}`; other keys are ignored. Image and category ids must be in
 * the ground truth.
 */
export function detectionsFromJson(parsed: unknown, file: string, gt: GroundTruthSet): DetectionSet {
  const root = parsed as Json;
  if (!Array.isArray(root)) throw inputError(file, `results must be a JSON array of detections, got ${kind(root)}`);
  const imageSet = new Set(gt.imageIds);
  const categorySet = new Set(gt.categoryIds);
  const n = root.length;
  const dt: DetectionSet = {
    imageId: new Float64Array(n),
    categoryId: new Float64Array(n),
    bbox: new Float64Array(4 * n),
    score: new Float64Array(n),
  };
  for (let index = 0; index < n; index++) {
    const det = entry(root, index, file, 'detection');
    const imageId = finiteNumber(det, 'image_id', file, index, 'image_id');
    if (!imageSet.has(imageId)) throw inputError(file, `unknown image id ${imageId} (not in the ground truth)`, { index, field: 'image_id' });
    const categoryId = finiteNumber(det, 'category_id', file, index, 'category_id');
    if (!categorySet.has(categoryId)) throw inputError(file, `unknown category id ${categoryId} (not in the ground truth)`, { index, field: 'category_id' });
    bbox(det, file, index, 'bbox', dt.bbox, index);
    dt.imageId[index] = imageId;
    dt.categoryId[index] = categoryId;
    dt.score[index] = finiteNumber(det, 'score', file, index, 'score');
  }
  return dt;
}

/** Reads and validates a COCO instances file. */
export function readGroundTruth(path: string): LoadedGroundTruth {
  return groundTruthFromJson(readJsonFile(path), path);
}

/**
 * Reads and validates a COCO results file against a ground truth. Valid files take a fast path straight into typed
 * arrays (no object per detection); anything else goes through `JSON.parse` and {@link detectionsFromJson}, which
 * names the file, index and field of the problem.
 */
export function readDetections(path: string, gt: GroundTruthSet): DetectionSet {
  const text = readText(path);
  const fast = scanDetections(text, new Set(gt.imageIds), new Set(gt.categoryIds));
  return fast ?? detectionsFromJson(parseJson(text, path), path, gt);
}
