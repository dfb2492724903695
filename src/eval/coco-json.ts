/**
 * Reading and validating COCO ground-truth (instances_*.json) and results JSON into the evaluator's columnar sets,
 * with pycocotools' semantics where it has them. Files are read as a stream ({@link JsonReader}), so their size is
 * not bounded by Node's string limit, and only the fields the evaluator needs are built (polygons are skipped).
 * Every problem is an {@link InputError} naming the file, the index and the field.
 *
 * Like pycocotools:
 * - detections and GT annotations whose category the GT does not declare are ignored (counted, see `ignored`), as
 *   are GT annotations on undeclared images; `strict` refuses them. Detections on undeclared images are refused
 *   (pycocotools' `loadRes` asserts).
 * - ids may be numbers or strings (one kind per id family: pycocotools cannot sort a mix). String ids are mapped to
 *   their rank in code-point order, which is the order pycocotools sorts them in, so the evaluator sees numbers.
 * Stricter than pycocotools: a number id that a double cannot hold exactly (an integer at or above 2^53) is refused
 * (two ids would merge); annotation ids must be unique (pycocotools keeps the last of each and counts it twice).
 *
 * One record's fields and their checks live in coco-fields.ts, the id families in coco-ids.ts.
 */
import { statSync } from 'node:fs';
import { inputError, InputError } from '../util/errors.js';
import { bbox, Column, Fields, finite, idValue, kind, OTHER, short, type Json } from './coco-fields.js';
import { IdCollector, idText, NUMBER_SPACE, resolveId, type IdSpace } from './coco-ids.js';
import type { DetectionSet, GroundTruthSet } from './cocoeval.js';
import { DEFAULT_CHUNK_BYTES, FileSource, JsonReader, JsonSyntaxError, KeyTable, type ByteSource, type JsonValue } from './json-stream.js';

export { idFromText, idLabel, type IdSpace } from './coco-ids.js';

/** Records left out as pycocotools leaves them out: how many, and the first one. */
export interface Ignored {
  count: number;
  /** Index (in its array) and id of the first one. */
  first?: { index: number; id: number | string };
}

/** A loaded ground truth plus the category names (for tables). */
export interface LoadedGroundTruth extends GroundTruthSet {
  /** Category id -> name (`categories[].name`, or the id as text when absent). */
  categoryNames: Map<number, string>;
  /** Category id -> `categories[].supercategory`, for the categories that declare one as a string (error analysis). */
  superCategories: Map<number, string>;
  imageIdSpace: IdSpace;
  categoryIdSpace: IdSpace;
  /** Annotations left out (pycocotools never evaluates them). */
  ignored: { undeclaredImage: Ignored; undeclaredCategory: Ignored };
}

/** Detections read from a results file. */
export interface LoadedDetections extends DetectionSet {
  /** Detections left out because the GT does not declare their category (pycocotools ignores them). */
  ignoredUndeclaredCategory: Ignored;
}

/** Options of the readers. */
export interface ReadOptions {
  /** Refuse what pycocotools ignores (undeclared categories, annotations on undeclared images). */
  strict?: boolean;
  /** Bytes read at a time (default 1 MiB; tests use a few to split every token). */
  chunkBytes?: number;
}

function note(ignored: Ignored, index: number, id: number | string): void {
  if (ignored.count++ === 0) ignored.first = { index, id };
}

// --- ground truth -------------------------------------------------------------------------------------------------

const IMAGE_KEYS = new KeyTable(['id']);
const CATEGORY_KEYS = new KeyTable(['id', 'name', 'supercategory']);
const ANN = { id: 0, image_id: 1, category_id: 2, bbox: 3, area: 4, iscrowd: 5 } as const;
const ANNOTATION_KEYS = new KeyTable(['id', 'image_id', 'category_id', 'bbox', 'area', 'iscrowd']);
const ROOT_KEYS = new KeyTable(['images', 'categories', 'annotations']);

/** Builds a ground truth record by record; references are resolved at the end (the arrays may come in any order). */
class GroundTruthBuilder {
  private readonly imageRaw: (number | string)[] = [];
  private readonly imageIds = new IdCollector();
  private readonly categoryRaw: (number | string)[] = [];
  private readonly categoryNameList: string[] = [];
  private readonly superCategoryList: (string | undefined)[] = [];
  private readonly categoryIds = new IdCollector();
  private n = 0;
  private readonly annImage: (number | string)[] = [];
  private readonly annCategory: (number | string)[] = [];
  private readonly annIdsSeen = new Set<number | string>();
  private readonly matchId: Column;
  private readonly bboxes: Column;
  private readonly areas: Column;
  private iscrowd: Uint8Array;

  constructor(
    readonly file: string,
    annotationsHint: number,
  ) {
    this.matchId = new Column(annotationsHint);
    this.bboxes = new Column(annotationsHint, 4);
    this.areas = new Column(annotationsHint);
    this.iscrowd = new Uint8Array(Math.max(1, annotationsHint));
  }

  image(f: Fields, index: number): void {
    const id = idValue(f, 0, { file: this.file, index }, 'images.id');
    this.imageRaw.push(id);
    this.imageIds.add(id, index);
  }

  category(f: Fields, index: number): void {
    const w = { file: this.file, index };
    const id = idValue(f, 0, w, 'categories.id');
    const name = f.value(1);
    if (name !== undefined && typeof name !== 'string') throw inputError(this.file, `must be a string, got ${kind(name)}`, { index, field: 'categories.name' });
    this.categoryRaw.push(id);
    this.categoryNameList.push(name ?? String(id));
    const superCategory = f.value(2);
    this.superCategoryList.push(typeof superCategory === 'string' ? superCategory : undefined);
    this.categoryIds.add(id, index);
  }

  annotation(f: Fields, index: number): void {
    const w = { file: this.file, index };
    const id = idValue(f, ANN.id, w, 'annotations.id');
    if (this.annIdsSeen.has(id)) throw inputError(this.file, `duplicate annotation id ${idText(id)}`, { index, field: 'annotations.id' });
    this.annIdsSeen.add(id);
    const imageId = idValue(f, ANN.image_id, w, 'annotations.image_id');
    const categoryId = idValue(f, ANN.category_id, w, 'annotations.category_id');
    const j = this.n;
    this.matchId.ensure(j + 1);
    this.bboxes.ensure(j + 1);
    this.areas.ensure(j + 1);
    if (j >= this.iscrowd.length) {
      const bigger = new Uint8Array(this.iscrowd.length * 2);
      bigger.set(this.iscrowd);
      this.iscrowd = bigger;
    }
    bbox(f, ANN.bbox, w, 'annotations.bbox', this.bboxes.data, j);
    const area = finite(f, ANN.area, w, 'annotations.area');
    const crowd = f.value(ANN.iscrowd);
    if (crowd !== undefined && crowd !== 0 && crowd !== 1 && typeof crowd !== 'boolean') {
      throw inputError(this.file, `must be 0 or 1, got ${kind(crowd)}`, { index, field: 'annotations.iscrowd' });
    }
    // pycocotools stores the GT id as a detection's match, read as a number: an id of 0 reads as "unmatched".
    this.matchId.data[j] = typeof id === 'number' ? id : Number(id.trim()) === 0 && id.trim() !== '' ? 0 : 1;
    this.areas.data[j] = area;
    this.iscrowd[j] = crowd === 1 || crowd === true ? 1 : 0;
    this.annImage.push(imageId);
    this.annCategory.push(categoryId);
    this.n++;
  }

  finish(strict: boolean): LoadedGroundTruth {
    const file = this.file;
    const images = this.imageIds.space(file, 'images.id');
    const categories = this.categoryIds.space(file, 'categories.id');
    const imageIds = this.imageRaw.map((id) => resolveId(id, images.space, images.rank)!);
    const categoryIds = this.categoryRaw.map((id) => resolveId(id, categories.space, categories.rank)!);
    const categoryNames = new Map<number, string>();
    const superCategories = new Map<number, string>();
    categoryIds.forEach((id, c) => {
      if (categoryNames.has(id)) return;
      categoryNames.set(id, this.categoryNameList[c]!);
      const superCategory = this.superCategoryList[c];
      if (superCategory !== undefined) superCategories.set(id, superCategory);
    });
    const imageSet = new Set(imageIds);
    const ignored = { undeclaredImage: { count: 0 } as Ignored, undeclaredCategory: { count: 0 } as Ignored };
    // Annotations kept: on a declared image and category.
    const n = this.n;
    const keep = new Int32Array(n);
    const imageCol = new Float64Array(n);
    const categoryCol = new Float64Array(n);
    let kept = 0;
    for (let j = 0; j < n; j++) {
      const img = resolveId(this.annImage[j]!, images.space, images.rank);
      const cat = resolveId(this.annCategory[j]!, categories.space, categories.rank);
      if (img === undefined || !imageSet.has(img)) {
        if (strict) throw inputError(file, `unknown image id ${idText(this.annImage[j]!)} (not in "images")`, { index: j, field: 'annotations.image_id' });
        note(ignored.undeclaredImage, j, this.annImage[j]!);
        continue;
      }
      if (cat === undefined || !categoryNames.has(cat)) {
        if (strict) throw inputError(file, `unknown category id ${idText(this.annCategory[j]!)} (not in "categories")`, { index: j, field: 'annotations.category_id' });
        note(ignored.undeclaredCategory, j, this.annCategory[j]!);
        continue;
      }
      imageCol[kept] = img;
      categoryCol[kept] = cat;
      keep[kept++] = j;
    }
    const pick = (src: Float64Array, width: number): Float64Array => {
      if (kept === n) return src.subarray(0, n * width);
      const out = new Float64Array(kept * width);
      for (let q = 0; q < kept; q++) for (let e = 0; e < width; e++) out[q * width + e] = src[keep[q]! * width + e]!;
      return out;
    };
    const crowd = new Uint8Array(kept);
    for (let q = 0; q < kept; q++) crowd[q] = this.iscrowd[keep[q]!]!;
    return {
      imageIds,
      categoryIds,
      annotations: {
        id: pick(this.matchId.data, 1),
        imageId: imageCol.subarray(0, kept),
        categoryId: categoryCol.subarray(0, kept),
        bbox: pick(this.bboxes.data, 4),
        area: pick(this.areas.data, 1),
        iscrowd: crowd,
      },
      categoryNames,
      superCategories,
      imageIdSpace: images.space,
      categoryIdSpace: categories.space,
      ignored,
    };
  }
}

function isObject(v: Json): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function arrayField(root: { [key: string]: JsonValue }, key: string, file: string): JsonValue[] {
  const v = root[key];
  if (v === undefined) throw inputError(file, 'missing key', { field: key });
  if (!Array.isArray(v)) throw inputError(file, `must be an array, got ${kind(v)}`, { field: key });
  return v;
}

/**
 * Validates a parsed COCO instances file: `images[].id`, `categories[].id` (and optional `name`),
 * `annotations[]` with `id`, `image_id`, `category_id`, `bbox`, `area` and optional `iscrowd` (0 when absent).
 * Annotation ids must be unique. Annotations on undeclared images or categories are ignored (counted in `ignored`),
 * or refused with `strict`.
 */
export function groundTruthFromJson(parsed: unknown, file: string, options: ReadOptions = {}): LoadedGroundTruth {
  const root = parsed as Json;
  if (!isObject(root)) throw inputError(file, `ground truth must be a JSON object, got ${kind(root)}`);
  const images = arrayField(root, 'images', file);
  const categories = arrayField(root, 'categories', file);
  const annotations = arrayField(root, 'annotations', file);
  const b = new GroundTruthBuilder(file, annotations.length);
  const each = (list: JsonValue[], table: KeyTable, boxKey: number, field: string, add: (f: Fields, index: number) => void): void => {
    const f = new Fields(table, boxKey);
    list.forEach((item, index) => {
      if (!isObject(item)) throw inputError(file, `must be an object, got ${kind(item)}`, { index, field });
      f.fromObject(item);
      add(f, index);
    });
  };
  each(images, IMAGE_KEYS, -1, 'images', (f, i) => b.image(f, i));
  each(categories, CATEGORY_KEYS, -1, 'categories', (f, i) => b.category(f, i));
  each(annotations, ANNOTATION_KEYS, ANN.bbox, 'annotations', (f, i) => b.annotation(f, i));
  return b.finish(options.strict ?? false);
}

/** A missing or unreadable file, as an InputError naming it. */
function openFailure(path: string, err: unknown): InputError {
  const code = (err as NodeJS.ErrnoException).code;
  return inputError(path, code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? String(err)})`);
}

/** Runs `read` over the file's bytes; syntax errors name the file and the record being read. */
function streamFile<T>(path: string, options: ReadOptions, read: (r: JsonReader, at: { index?: number; field?: string }) => T, source?: ByteSource): T {
  let file: FileSource | undefined;
  try {
    file = source === undefined ? new FileSource(path) : undefined;
  } catch (err) {
    throw openFailure(path, err);
  }
  const at: { index?: number; field?: string } = {};
  try {
    return read(new JsonReader(source ?? file!, options.chunkBytes ?? DEFAULT_CHUNK_BYTES), at);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw inputError(path, `malformed JSON: ${err.message}`, at);
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string') throw openFailure(path, err);
    throw err;
  } finally {
    file?.close();
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** What the next value is, for a message (builds it only when it is small by nature). */
function describeNext(r: JsonReader): string {
  const c = r.peek();
  if (c === 0x7b) return 'an object';
  if (c === 0x5b) return 'an array';
  if (c === 0x22) return `string ${short(r.string())}`;
  return kind(r.value());
}

/** Reads and validates a COCO instances file (streamed: any size; segmentation polygons are skipped unread). */
export function readGroundTruth(path: string, options: ReadOptions = {}, source?: ByteSource): LoadedGroundTruth {
  return streamFile(
    path,
    options,
    (r, at) => {
      if (r.peek() !== 0x7b) throw inputError(path, `ground truth must be a JSON object, got ${describeNext(r)}`);
      // Minimum bytes of an annotation with every required key: an upper bound on their count.
      const b = new GroundTruthBuilder(path, Math.min(Math.ceil((source === undefined ? fileSize(path) : 0) / 64) + 16, 1 << 22));
      const seen = [false, false, false];
      const fieldsOf = [new Fields(IMAGE_KEYS), new Fields(CATEGORY_KEYS), new Fields(ANNOTATION_KEYS, ANN.bbox)];
      const add = [(f: Fields, i: number) => b.image(f, i), (f: Fields, i: number) => b.category(f, i), (f: Fields, i: number) => b.annotation(f, i)];
      r.objectKeys(ROOT_KEYS, (k, key) => {
        if (k < 0) {
          r.skip();
          return;
        }
        if (seen[k]) throw inputError(path, 'the key appears twice in the file', { field: key });
        seen[k] = true;
        if (r.peek() !== 0x5b) throw inputError(path, `must be an array, got ${describeNext(r)}`, { field: key });
        const f = fieldsOf[k]!;
        const table = f.table;
        const entry = (j: number): void => {
          if (j < 0) r.skip();
          else f.read(r, j);
        };
        at.field = key;
        r.arrayItems((index) => {
          at.index = index;
          if (r.peek() !== 0x7b) throw inputError(path, `must be an object, got ${describeNext(r)}`, { index, field: key });
          f.clear();
          r.objectKeys(table, entry);
          add[k]!(f, index);
        });
        at.index = undefined;
        at.field = undefined;
      });
      r.finish();
      ROOT_KEYS.keys.forEach((key, k) => {
        if (!seen[k]) throw inputError(path, 'missing key', { field: key });
      });
      return b.finish(options.strict ?? false);
    },
    source,
  );
}

// --- results ------------------------------------------------------------------------------------------------------

const DET = { image_id: 0, category_id: 1, bbox: 2, score: 3, segmentation: 4, keypoints: 5 } as const;
const DETECTION_KEYS = new KeyTable(['image_id', 'category_id', 'bbox', 'score', 'segmentation', 'keypoints']);

/** Builds detections record by record against a ground truth. */
class DetectionBuilder {
  private n = 0;
  private readonly imageId: Column;
  private readonly categoryId: Column;
  private readonly boxes: Column;
  private readonly score: Column;
  private readonly imageSet: Set<number>;
  private readonly categorySet: Set<number>;
  private readonly imageRank: Map<string, number>;
  private readonly categoryRank: Map<string, number>;
  readonly ignored: Ignored = { count: 0 };

  constructor(
    readonly file: string,
    readonly gt: GroundTruthSet & Partial<Pick<LoadedGroundTruth, 'imageIdSpace' | 'categoryIdSpace'>>,
    capacity: number,
    readonly strict: boolean,
  ) {
    this.imageId = new Column(capacity);
    this.categoryId = new Column(capacity);
    this.boxes = new Column(capacity, 4);
    this.score = new Column(capacity);
    this.imageSet = new Set(gt.imageIds);
    this.categorySet = new Set(gt.categoryIds);
    this.imageRank = new Map(gt.imageIdSpace?.strings.map((s, r) => [s, r]));
    this.categoryRank = new Map(gt.categoryIdSpace?.strings.map((s, r) => [s, r]));
  }

  add(f: Fields, index: number): void {
    const file = this.file;
    const w = { file, index };
    const rawImage = idValue(f, DET.image_id, w, 'image_id');
    const image = resolveId(rawImage, this.gt.imageIdSpace ?? NUMBER_SPACE, this.imageRank);
    if (image === undefined || !this.imageSet.has(image)) {
      throw inputError(file, `unknown image id ${idText(rawImage)} (not in the ground truth)`, { index, field: 'image_id' });
    }
    const rawCategory = idValue(f, DET.category_id, w, 'category_id');
    const category = resolveId(rawCategory, this.gt.categoryIdSpace ?? NUMBER_SPACE, this.categoryRank);
    const j = this.n;
    this.boxes.ensure(j + 1);
    const hint = f.has(DET.segmentation) ? 'only bbox results are evaluated; this is a segmentation result ("segmentation" without "bbox")'
      : f.has(DET.keypoints) ? 'only bbox results are evaluated; this is a keypoint result ("keypoints" without "bbox")'
      : undefined;
    bbox(f, DET.bbox, w, 'bbox', this.boxes.data, j, hint);
    const score = finite(f, DET.score, w, 'score');
    if (category === undefined || !this.categorySet.has(category)) {
      if (this.strict) throw inputError(file, `unknown category id ${idText(rawCategory)} (not in the ground truth)`, { index, field: 'category_id' });
      note(this.ignored, index, rawCategory);
      return;
    }
    this.imageId.ensure(j + 1);
    this.categoryId.ensure(j + 1);
    this.score.ensure(j + 1);
    this.imageId.data[j] = image;
    this.categoryId.data[j] = category;
    this.score.data[j] = score;
    this.n++;
  }

  finish(): LoadedDetections {
    const n = this.n;
    return {
      imageId: this.imageId.view(n),
      categoryId: this.categoryId.view(n),
      bbox: this.boxes.view(n),
      score: this.score.view(n),
      ignoredUndeclaredCategory: this.ignored,
    };
  }
}


/**
 * Validates a parsed COCO results file (pycocotools `loadRes` for boxes): an array of
 * `{image_id, category_id, bbox: [x, y, w, h], score}`; other keys are ignored. Image ids must be in the ground
 * truth; detections of categories it does not declare are ignored (counted), or refused with `strict`.
 */
export function detectionsFromJson(parsed: unknown, file: string, gt: GroundTruthSet & Partial<LoadedGroundTruth>, options: ReadOptions = {}): LoadedDetections {
  const root = parsed as Json;
  if (!Array.isArray(root)) throw inputError(file, `results must be a JSON array of detections, got ${kind(root)}`);
  const b = new DetectionBuilder(file, gt, root.length, options.strict ?? false);
  const f = new Fields(DETECTION_KEYS, DET.bbox);
  root.forEach((item, index) => {
    if (!isObject(item)) throw inputError(file, `must be an object, got ${kind(item)}`, { index, field: 'detection' });
    f.fromObject(item);
    b.add(f, index);
  });
  return b.finish();
}

/**
 * Reads and validates a COCO results file against a ground truth, streamed (any size) straight into typed arrays.
 * Semantics as {@link detectionsFromJson}.
 */
export function readDetections(path: string, gt: GroundTruthSet & Partial<LoadedGroundTruth>, options: ReadOptions = {}, source?: ByteSource): LoadedDetections {
  return streamFile(
    path,
    options,
    (r, at) => {
      if (r.peek() !== 0x5b) throw inputError(path, `results must be a JSON array of detections, got ${describeNext(r)}`);
      // A detection with every required key takes at least 57 bytes: an upper bound on the count. Pages of the
      // columns that are never written are never touched, so the bound costs address space, not memory.
      // (Capped: a file of mostly other keys, segmentations say, grows the columns instead.)
      const bound = source === undefined ? Math.ceil(fileSize(path) / 57) + 1 : 1024;
      const b = new DetectionBuilder(path, gt, Math.min(bound, 1 << 24), options.strict ?? false);
      const f = new Fields(DETECTION_KEYS, DET.bbox);
      const entry = (k: number): void => {
        if (k === DET.segmentation || k === DET.keypoints) {
          f.kind[k] = OTHER;
          r.skip();
        } else if (k < 0) r.skip();
        else f.read(r, k);
      };
      r.arrayItems((index) => {
        at.index = index;
        if (r.peek() !== 0x7b) throw inputError(path, `must be an object, got ${describeNext(r)}`, { index, field: 'detection' });
        f.clear();
        r.objectKeys(DETECTION_KEYS, entry);
        b.add(f, index);
      });
      at.index = undefined;
      r.finish();
      return b.finish();
    },
    source,
  );
}
