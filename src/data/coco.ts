import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, inputError } from '../util/errors.js';

/**
 * A COCO-format detection dataset: the image index, the category id <-> contiguous label map and the boxes of each
 * image, checked once at load. Works for any COCO-format file (custom class lists), not only the 80 COCO classes.
 *
 * Box rules (the same for training and evaluation):
 * - The file is checked as the evaluation reader checks it (`src/eval/coco-json.ts`): annotation ids are integers
 *   and unique, image and category ids are declared, `bbox` is 4 finite numbers with width and height >= 0.
 * - `bbox` is COCO `[x, y, w, h]` in stored-pixel orientation; inside it becomes `xyxy`, clipped to the image.
 * - A box whose clipped width or height is below 1 pixel is dropped and counted (`stats.degenerateDropped`).
 * - `iscrowd: 1` boxes are kept apart as ignore regions (`crowdBoxes`), never as positives.
 * - For training, images with no positive box left are skipped by default (`stats.emptySkipped`); for evaluation
 *   every image is kept. A training split left with no image is an InputError saying why.
 */

/** One image of the index. */
export interface ImageRecord {
  id: number;
  fileName: string;
  /** imageDir joined with fileName. */
  path: string;
  /** Size stated in the annotation file; the stored image must have it. */
  width: number;
  height: number;
}

export interface Category {
  /** The id used in the annotation file (COCO: sparse 1..90). */
  id: number;
  name: string;
  supercategory?: string;
}

/** The targets of one image, in original (stored) pixels. */
export interface ImageAnnotations {
  /** [M * 4] xyxy, non-crowd and non-degenerate. */
  boxes: Float32Array;
  /** [M] contiguous labels 0..K-1. */
  labels: Int32Array;
  /** [G * 4] xyxy crowd (ignore) regions. */
  crowdBoxes: Float32Array;
  /** [M] annotation ids of `boxes`, to trace a box back to the file. */
  annotationIds: Int32Array;
}

export interface DatasetStats {
  /** Images listed in the file. */
  imagesInFile: number;
  /** Annotations listed in the file. */
  annotationsInFile: number;
  /** Boxes with width or height < 1 after clipping, dropped (over the kept images). */
  degenerateDropped: number;
  /** Crowd boxes kept as ignore regions (over the kept images). */
  crowdIgnored: number;
  /** Positive boxes kept (over the kept images). */
  boxesKept: number;
  /** Images without a positive box that were skipped (training only). */
  emptySkipped: number;
  /** Images without a positive box that were kept (evaluation, or skipEmpty false). */
  emptyKept: number;
}

export interface CocoLoadOptions {
  /** Training skips images without positive boxes (unless skipEmpty is false); evaluation keeps all. */
  forTraining: boolean;
  /** Default: true for training; ignored for evaluation (always kept). */
  skipEmpty?: boolean;
  /** Keep only the first N images (sorted by id, after skipping empty ones); 0 or absent = all. */
  limit?: number;
}

type JsonObject = Record<string, unknown>;

export class CocoDataset {
  /** Kept images, sorted by id. */
  readonly images: readonly ImageRecord[];
  /** Categories sorted by id; the contiguous label of `categories[k]` is k. */
  readonly categories: readonly Category[];
  readonly stats: DatasetStats;
  /** The annotation file this came from (for messages). */
  readonly source: string;
  readonly imageDir: string;

  private readonly byId: Map<number, ImageRecord>;
  private readonly targets: Map<number, ImageAnnotations>;
  private readonly labelOfCategory: Map<number, number>;

  private constructor(
    source: string,
    imageDir: string,
    images: ImageRecord[],
    categories: Category[],
    targets: Map<number, ImageAnnotations>,
    stats: DatasetStats,
  ) {
    this.source = source;
    this.imageDir = imageDir;
    this.images = images;
    this.categories = categories;
    this.targets = targets;
    this.stats = stats;
    this.byId = new Map(images.map((im) => [im.id, im]));
    this.labelOfCategory = new Map(categories.map((c, k) => [c.id, k]));
  }

  /** Reads and checks a COCO annotation file. Errors are `InputError`s naming the file, the index and the field. */
  static load(annotationFile: string, imageDir: string, opts: CocoLoadOptions): CocoDataset {
    let text: string;
    try {
      text = readFileSync(annotationFile, 'utf8');
    } catch (err) {
      throw new InputError(`${annotationFile}: cannot read annotation file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new InputError(`${annotationFile}: malformed JSON (${(err as Error).message})`);
    }
    return CocoDataset.fromJson(json, annotationFile, imageDir, opts);
  }

  /** Builds a dataset from already-parsed COCO JSON; `source` names it in errors. */
  static fromJson(json: unknown, source: string, imageDir: string, opts: CocoLoadOptions): CocoDataset {
    if (!isObject(json)) throw new InputError(`${source}: the annotation file must be a JSON object`);
    const imagesJson = requireArray(json, 'images', source);
    const annotationsJson = requireArray(json, 'annotations', source, true);
    const categoriesJson = requireArray(json, 'categories', source);

    const categories: Category[] = categoriesJson.map((c, i) => {
      if (!isObject(c)) throw inputError(source, 'a category must be an object', { index: i, field: 'categories' });
      const id = requireInt(c, 'id', source, i, 'categories');
      const name = c['name'];
      if (typeof name !== 'string') throw inputError(source, 'categories[].name must be a string', { index: i, field: 'name' });
      const cat: Category = { id, name };
      if (typeof c['supercategory'] === 'string') cat.supercategory = c['supercategory'];
      return cat;
    });
    categories.sort((a, b) => a.id - b.id);
    for (let k = 1; k < categories.length; k++) {
      if (categories[k]!.id === categories[k - 1]!.id) {
        throw inputError(source, `category id ${categories[k]!.id} listed twice`, { field: 'categories' });
      }
    }
    const labelOf = new Map(categories.map((c, k) => [c.id, k]));

    const allImages = new Map<number, ImageRecord>();
    imagesJson.forEach((im, i) => {
      if (!isObject(im)) throw inputError(source, 'an image must be an object', { index: i, field: 'images' });
      const id = requireInt(im, 'id', source, i, 'images');
      const fileName = im['file_name'];
      if (typeof fileName !== 'string' || fileName === '') {
        throw inputError(source, 'images[].file_name must be a non-empty string', { index: i, field: 'file_name' });
      }
      const width = requireInt(im, 'width', source, i, 'images');
      const height = requireInt(im, 'height', source, i, 'images');
      if (width < 1 || height < 1) throw inputError(source, `image ${id} has size ${width}x${height}`, { index: i, field: 'width' });
      if (allImages.has(id)) throw inputError(source, `image id ${id} listed twice`, { index: i, field: 'id' });
      allImages.set(id, { id, fileName, path: join(imageDir, fileName), width, height });
    });

    // Raw per-image lists in file order, then packed into typed arrays.
    interface Raw { boxes: number[]; labels: number[]; crowd: number[]; annIds: number[]; degenerate: number }
    const raw = new Map<number, Raw>();
    for (const id of allImages.keys()) raw.set(id, { boxes: [], labels: [], crowd: [], annIds: [], degenerate: 0 });
    const annotationIds = new Set<number>();
    annotationsJson.forEach((a, i) => {
      if (!isObject(a)) throw inputError(source, 'an annotation must be an object', { index: i, field: 'annotations' });
      // The same rules as the evaluation reader (src/eval/coco-json.ts), field for field: a file either serves for
      // training and evaluation alike or is refused by both.
      const annId = requireInt(a, 'id', source, i, 'annotations');
      if (annotationIds.has(annId)) throw inputError(source, `duplicate annotation id ${annId}`, { index: i, field: 'id' });
      annotationIds.add(annId);
      const imageId = requireInt(a, 'image_id', source, i, 'annotations');
      const image = allImages.get(imageId);
      const entry = raw.get(imageId);
      if (image === undefined || entry === undefined) {
        throw inputError(source, `annotations[${i}] refers to unknown image id ${imageId}`, { index: i, field: 'image_id' });
      }
      const categoryId = requireInt(a, 'category_id', source, i, 'annotations');
      const label = labelOf.get(categoryId);
      if (label === undefined) {
        throw inputError(source, `annotations[${i}] has unknown category id ${categoryId} (not in "categories")`, {
          index: i,
          field: 'category_id',
        });
      }
      const bbox = a['bbox'];
      if (!Array.isArray(bbox) || bbox.length !== 4 || !bbox.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw inputError(source, `annotations[${i}].bbox must be 4 finite numbers [x, y, w, h]`, { index: i, field: 'bbox' });
      }
      if (bbox[2] < 0 || bbox[3] < 0) {
        throw inputError(source, `annotations[${i}].bbox width and height must be >= 0, got [${bbox.join(', ')}]`, { index: i, field: 'bbox' });
      }
      const area = a['area'];
      if (area !== undefined && (typeof area !== 'number' || !Number.isFinite(area))) {
        throw inputError(source, `annotations[${i}].area must be a finite number`, { index: i, field: 'area' });
      }
      const crowdFlag = a['iscrowd'] ?? 0;
      if (crowdFlag !== 0 && crowdFlag !== 1 && crowdFlag !== true && crowdFlag !== false) {
        throw inputError(source, `annotations[${i}].iscrowd must be 0 or 1`, { index: i, field: 'iscrowd' });
      }
      const [x, y, w, h] = bbox as [number, number, number, number];
      // xywh -> xyxy, clipped to the image (as torchvision's reference COCO dataset does).
      const x1 = clamp(x, 0, image.width);
      const y1 = clamp(y, 0, image.height);
      const x2 = clamp(x + w, 0, image.width);
      const y2 = clamp(y + h, 0, image.height);
      if (crowdFlag === 1 || crowdFlag === true) {
        entry.crowd.push(x1, y1, x2, y2);
      } else if (x2 - x1 < 1 || y2 - y1 < 1) {
        entry.degenerate++;
      } else {
        entry.boxes.push(x1, y1, x2, y2);
        entry.labels.push(label);
        entry.annIds.push(annId);
      }
    });

    const skipEmpty = opts.forTraining && (opts.skipEmpty ?? true);
    const sortedIds = [...allImages.keys()].sort((p, q) => p - q);
    const images: ImageRecord[] = [];
    let emptySkipped = 0;
    for (const id of sortedIds) {
      const entry = raw.get(id)!;
      if (skipEmpty && entry.labels.length === 0) {
        emptySkipped++;
        continue;
      }
      images.push(allImages.get(id)!);
    }
    if (opts.forTraining && images.length === 0) throw new InputError(`${source}: ${whyNoTrainingImages(allImages.size, raw)}`);
    const limit = opts.limit ?? 0;
    if (limit > 0 && images.length > limit) images.length = limit;

    const targets = new Map<number, ImageAnnotations>();
    const stats: DatasetStats = {
      imagesInFile: allImages.size,
      annotationsInFile: annotationsJson.length,
      degenerateDropped: 0,
      crowdIgnored: 0,
      boxesKept: 0,
      emptySkipped,
      emptyKept: 0,
    };
    for (const im of images) {
      const entry = raw.get(im.id)!;
      targets.set(im.id, {
        boxes: Float32Array.from(entry.boxes),
        labels: Int32Array.from(entry.labels),
        crowdBoxes: Float32Array.from(entry.crowd),
        annotationIds: Int32Array.from(entry.annIds),
      });
      stats.degenerateDropped += entry.degenerate;
      stats.crowdIgnored += entry.crowd.length / 4;
      stats.boxesKept += entry.labels.length;
      if (entry.labels.length === 0) stats.emptyKept++;
    }
    return new CocoDataset(source, imageDir, images, categories, targets, stats);
  }

  /** Number of classes K (contiguous labels 0..K-1). */
  get numClasses(): number {
    return this.categories.length;
  }

  /** Class names in label order. */
  get classNames(): string[] {
    return this.categories.map((c) => c.name);
  }

  image(imageId: number): ImageRecord {
    const im = this.byId.get(imageId);
    if (im === undefined) throw new InputError(`${this.source}: image id ${imageId} is not in the dataset`);
    return im;
  }

  /** Targets of an image in original pixels (xyxy). The arrays are shared: do not modify them. */
  annotationsFor(imageId: number): ImageAnnotations {
    const t = this.targets.get(imageId);
    if (t === undefined) throw new InputError(`${this.source}: image id ${imageId} is not in the dataset`);
    return t;
  }

  labelToCategoryId(label: number): number {
    const c = this.categories[label];
    if (c === undefined || !Number.isInteger(label)) throw new RangeError(`label ${label} outside 0..${this.categories.length - 1}`);
    return c.id;
  }

  categoryIdToLabel(categoryId: number): number {
    const k = this.labelOfCategory.get(categoryId);
    if (k === undefined) throw new InputError(`${this.source}: unknown category id ${categoryId}`);
    return k;
  }
}

/**
 * Paths of one split of a COCO-layout root: `annotations/instances_<split>.json` and the image folder `<split>/`
 * (or `images/<split>/` when only that exists, as in some COCO subsets).
 */
export function cocoSplitPaths(root: string, split: string): { annotationFile: string; imageDir: string } {
  const annotationFile = join(root, 'annotations', `instances_${split}.json`);
  const direct = join(root, split);
  const nested = join(root, 'images', split);
  return { annotationFile, imageDir: !existsSync(direct) && existsSync(nested) ? nested : direct };
}

/** Why a training split kept no image: the counts that explain it. */
function whyNoTrainingImages(imageCount: number, raw: Map<number, { labels: number[]; crowd: number[]; degenerate: number }>): string {
  if (imageCount === 0) return 'no training images: "images" is empty';
  let crowd = 0;
  let degenerate = 0;
  for (const entry of raw.values()) {
    crowd += entry.crowd.length / 4;
    degenerate += entry.degenerate;
  }
  if (crowd === 0 && degenerate === 0) return `no training images: none of the ${imageCount} images has an annotation ("annotations" is empty)`;
  return (
    `no training images: none of the ${imageCount} images has a usable box (annotations: ${crowd} crowd, ` +
    `${degenerate} under 1 pixel after clipping); training needs at least one non-crowd box (data.skipEmptyTrainImages false keeps empty images)`
  );
}

/**
 * The annotation file and image folder of the train or val split of `data`: its own pair of paths when set, else
 * `root`'s COCO layout. `root` is only read when the split has no pair (null: the caller has no root to offer).
 */
export function datasetSplitPaths(
  data: { trainSplit: string; valSplit: string; trainAnnotationFile: string | null; trainImageDir: string | null; valAnnotationFile: string | null; valImageDir: string | null },
  which: 'train' | 'val',
  root: string | null,
): { annotationFile: string; imageDir: string } {
  const annotationFile = which === 'train' ? data.trainAnnotationFile : data.valAnnotationFile;
  const imageDir = which === 'train' ? data.trainImageDir : data.valImageDir;
  if (annotationFile !== null && imageDir !== null) return { annotationFile, imageDir };
  if (root === null) throw new InputError(`data.root: needed for the ${which} split (or give --${which}-json with --${which}-images)`);
  return cocoSplitPaths(root, which === 'train' ? data.trainSplit : data.valSplit);
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function requireArray(obj: JsonObject, key: string, source: string, optional = false): unknown[] {
  const v = obj[key];
  if (v === undefined && optional) return [];
  if (!Array.isArray(v)) throw inputError(source, `"${key}" must be an array`, { field: key });
  return v;
}

function requireInt(obj: JsonObject, key: string, source: string, index: number, list: string): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw inputError(source, `${list}[${index}].${key} must be an integer`, { index, field: key });
  }
  return v;
}
