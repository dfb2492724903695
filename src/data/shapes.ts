import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';

/**
 * The embedded default dataset: coloured shapes on textured backgrounds, in COCO layout, generated
 * deterministically from a seed on first use (a few seconds), so that training runs on a fresh machine with no
 * download. Each class has its own form and its own hue, so a tiny detector learns it in minutes on a CPU.
 *
 * Layout under `dir`: annotations/instances_{train,val}2017.json, train2017/*.png, val2017/*.png, and
 * shapes.json (the options it was made with; a directory made with other options is regenerated).
 *
 * Boxes are the exact geometry of each shape (integer corners): circle of diameter s -> [x, y, s, s]; square of
 * side s -> [x, y, s, s]; triangle with base s on the bottom edge and apex at the top middle -> [x, y, s, s].
 * Shapes may overlap, but never cover more than a quarter of one another's box, so every object stays visible.
 */

/** Class names in category-id order (ids 1, 2, 3). */
export const SHAPE_CLASSES = ['circle', 'square', 'triangle'] as const;
export type ShapeClass = (typeof SHAPE_CLASSES)[number];

export interface ShapesOptions {
  /** Images in train2017 (default 400). */
  trainImages: number;
  /** Images in val2017 (default 50). */
  valImages: number;
  /** Square image side in pixels (default 128). */
  imageSize: number;
  /** Shape sizes (side or diameter) drawn uniformly from [minObject, maxObject] (default 16..80). */
  minObject: number;
  maxObject: number;
  /** Objects per image drawn uniformly from 1..maxObjects (default 4). */
  maxObjects: number;
  seed: number;
}

export const DEFAULT_SHAPES_OPTIONS: Readonly<ShapesOptions> = {
  trainImages: 400,
  valImages: 50,
  imageSize: 128,
  minObject: 16,
  maxObject: 80,
  maxObjects: 4,
  seed: 2017,
};

/** Bumped whenever the generator's output changes, so old directories are regenerated. */
const GENERATOR_VERSION = 3;

export interface ShapeObject {
  cls: ShapeClass;
  /** Top-left corner and size: the COCO box is [x, y, size, size]. */
  x: number;
  y: number;
  size: number;
  /** Fill colour. */
  rgb: [number, number, number];
}

export interface ShapeScene {
  width: number;
  height: number;
  objects: ShapeObject[];
  /** Background texture parameters (see renderBackground). */
  background: { base: [number, number, number]; waves: { fx: number; fy: number; phase: number; amp: number }[]; noise: number; noiseSeed: number };
}

/** Hue (degrees) of each class; saturation and lightness vary a little per object. */
const HUES: Record<ShapeClass, number> = { circle: 0, square: 120, triangle: 225 };

/** Draws one random scene: 1..maxObjects shapes placed inside the image, overlapping only a little. */
export function randomScene(rng: Rng, opts: ShapesOptions): ShapeScene {
  const n = opts.imageSize;
  const count = 1 + rng.int(opts.maxObjects);
  const objects: ShapeObject[] = [];
  for (let attempt = 0; objects.length < count && attempt < 50 * count; attempt++) {
    const size = opts.minObject + rng.int(opts.maxObject - opts.minObject + 1);
    const x = rng.int(n - size + 1);
    const y = rng.int(n - size + 1);
    const ok = objects.every((o) => {
      const iw = Math.max(0, Math.min(x + size, o.x + o.size) - Math.max(x, o.x));
      const ih = Math.max(0, Math.min(y + size, o.y + o.size) - Math.max(y, o.y));
      return iw * ih <= 0.25 * Math.min(size * size, o.size * o.size);
    });
    if (!ok) continue;
    const cls = SHAPE_CLASSES[rng.int(SHAPE_CLASSES.length)]!;
    const hue = HUES[cls] + rng.uniform(-12, 12);
    const rgb = hslToRgb(hue, rng.uniform(0.7, 0.95), rng.uniform(0.42, 0.58));
    objects.push({ cls, x, y, size, rgb });
  }
  const gray = 90 + rng.int(90);
  const base: [number, number, number] = [gray + rng.int(31) - 15, gray + rng.int(31) - 15, gray + rng.int(31) - 15];
  const waves = Array.from({ length: 3 }, () => ({
    fx: rng.uniform(-0.3, 0.3),
    fy: rng.uniform(-0.3, 0.3),
    phase: rng.uniform(0, 2 * Math.PI),
    amp: rng.uniform(5, 20),
  }));
  return { width: n, height: n, objects, background: { base, waves, noise: rng.uniform(6, 18), noiseSeed: rng.nextUint32() } };
}

/** The scene's shapes as an SVG document (transparent background). */
export function sceneSvg(scene: ShapeScene, only?: number): string {
  const parts = scene.objects
    .map((o, i) => (only === undefined || only === i ? shapeSvg(o) : ''))
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${scene.width}" height="${scene.height}" viewBox="0 0 ${scene.width} ${scene.height}">${parts}</svg>`;
}

function shapeSvg(o: ShapeObject): string {
  const fill = `rgb(${o.rgb.join(',')})`;
  const s = o.size;
  switch (o.cls) {
    case 'circle':
      return `<circle cx="${o.x + s / 2}" cy="${o.y + s / 2}" r="${s / 2}" fill="${fill}"/>`;
    case 'square':
      return `<rect x="${o.x}" y="${o.y}" width="${s}" height="${s}" fill="${fill}"/>`;
    case 'triangle':
      return `<polygon points="${o.x},${o.y + s} ${o.x + s},${o.y + s} ${o.x + s / 2},${o.y}" fill="${fill}"/>`;
  }
}

/** The textured background: a tinted grey, a few low-frequency waves and per-pixel noise. [H * W * 3] RGB. */
export function renderBackground(scene: ShapeScene): Uint8Array {
  const { width, height } = scene;
  const { base, waves, noise, noiseSeed } = scene.background;
  const rng = new Rng(noiseSeed);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let wave = 0;
      for (const w of waves) wave += w.amp * Math.sin(w.fx * x + w.fy * y + w.phase);
      for (let c = 0; c < 3; c++) {
        const v = base[c]! + wave + noise * (2 * rng.next() - 1);
        out[(y * width + x) * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
      }
    }
  }
  return out;
}

/** Renders a scene to PNG bytes. */
export async function renderScene(scene: ShapeScene): Promise<Buffer> {
  return sharp(Buffer.from(renderBackground(scene)), { raw: { width: scene.width, height: scene.height, channels: 3 } })
    .composite([{ input: Buffer.from(sceneSvg(scene)), top: 0, left: 0 }])
    .removeAlpha() // composite adds an (opaque) alpha channel: the PNGs are RGB
    .png()
    .toBuffer();
}

/** The COCO annotation of one object: exact box, exact area, polygon outline. */
function annotationOf(o: ShapeObject, id: number, imageId: number): Record<string, unknown> {
  const s = o.size;
  let segmentation: number[];
  let area: number;
  if (o.cls === 'circle') {
    const cx = o.x + s / 2;
    const cy = o.y + s / 2;
    segmentation = [];
    for (let k = 0; k < 32; k++) {
      const t = (2 * Math.PI * k) / 32;
      segmentation.push(round2(cx + (s / 2) * Math.cos(t)), round2(cy + (s / 2) * Math.sin(t)));
    }
    area = Math.PI * (s / 2) ** 2;
  } else if (o.cls === 'square') {
    segmentation = [o.x, o.y, o.x + s, o.y, o.x + s, o.y + s, o.x, o.y + s];
    area = s * s;
  } else {
    segmentation = [o.x, o.y + s, o.x + s, o.y + s, o.x + s / 2, o.y];
    area = (s * s) / 2;
  }
  return {
    id,
    image_id: imageId,
    category_id: SHAPE_CLASSES.indexOf(o.cls) + 1,
    bbox: [o.x, o.y, s, s],
    area: round2(area),
    iscrowd: 0,
    segmentation: [segmentation],
  };
}

/**
 * Generates one split into `root` (images under root/split, annotations under root/annotations). Deterministic for
 * (opts, split). Returns the number of objects.
 */
export async function generateShapesSplit(root: string, split: 'train2017' | 'val2017', opts: ShapesOptions): Promise<number> {
  const count = split === 'train2017' ? opts.trainImages : opts.valImages;
  const firstId = split === 'train2017' ? 1 : 1_000_001;
  const rng = new Rng((opts.seed * 2 + (split === 'train2017' ? 0 : 1)) >>> 0);
  mkdirSync(join(root, split), { recursive: true });
  mkdirSync(join(root, 'annotations'), { recursive: true });
  const scenes = Array.from({ length: count }, () => randomScene(rng, opts));
  const images: Record<string, unknown>[] = [];
  const annotations: Record<string, unknown>[] = [];
  scenes.forEach((scene, i) => {
    const imageId = firstId + i;
    images.push({ id: imageId, file_name: `${String(imageId).padStart(12, '0')}.png`, width: scene.width, height: scene.height, license: 0 });
    for (const o of scene.objects) annotations.push(annotationOf(o, annotations.length + 1 + (firstId - 1), imageId));
  });
  // Render with a few images in flight (libvips works in its own threads).
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < scenes.length) {
      const i = next++;
      const png = await renderScene(scenes[i]!);
      writeFileSync(join(root, split, images[i]!['file_name'] as string), png);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  const json = {
    info: { description: 'psdet shapes: coloured shapes on textured backgrounds, generated', version: String(GENERATOR_VERSION), year: 2026 },
    licenses: [{ id: 0, name: 'generated by psdet', url: '' }],
    images,
    annotations,
    categories: SHAPE_CLASSES.map((name, k) => ({ id: k + 1, name, supercategory: 'shape' })),
  };
  writeFileSync(join(root, 'annotations', `instances_${split}.json`), JSON.stringify(json));
  return annotations.length;
}

/**
 * Returns the absolute COCO-layout root of the shapes dataset under `dir`, generating it first when it is missing
 * or was made with other options. Generation writes to a temporary sibling and renames it into place, so a
 * half-written set is never seen and concurrent callers agree.
 */
export async function ensureShapesDataset(dir = 'data/shapes', options: Partial<ShapesOptions> = {}): Promise<string> {
  const opts: ShapesOptions = { ...DEFAULT_SHAPES_OPTIONS, ...options };
  const root = resolve(dir);
  const stamp = JSON.stringify({ generator: GENERATOR_VERSION, ...opts });
  const stampFile = (r: string): string => join(r, 'shapes.json');
  const current = (): boolean => existsSync(stampFile(root)) && readFileSync(stampFile(root), 'utf8') === stamp;
  if (current()) return root;
  if (existsSync(root) && !existsSync(stampFile(root))) {
    throw new InputError(`${root}: exists but is not a generated shapes dataset (no shapes.json); move it away or pick another directory`);
  }
  const tmp = `${root}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(dirname(root), { recursive: true });
  try {
    await generateShapesSplit(tmp, 'train2017', opts);
    await generateShapesSplit(tmp, 'val2017', opts);
    writeFileSync(stampFile(tmp), stamp);
    if (existsSync(root) && !current()) rmSync(root, { recursive: true, force: true }); // ours, other options
    try {
      renameSync(tmp, root);
    } catch (err) {
      if (!current()) throw err; // someone else put a current set there meanwhile: fine
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return root;
}

function hslToRgb(hueDeg: number, s: number, l: number): [number, number, number] {
  const h = (((hueDeg % 360) + 360) % 360) / 60;
  const c = (1 - Math.abs(2 * l - 1)) * s;
  const x = c * (1 - Math.abs((h % 2) - 1));
  const [r, g, b] = h < 1 ? [c, x, 0] : h < 2 ? [x, c, 0] : h < 3 ? [0, c, x] : h < 4 ? [0, x, c] : h < 5 ? [x, 0, c] : [c, 0, x];
  const m = l - c / 2;
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
