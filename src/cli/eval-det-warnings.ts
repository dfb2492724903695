/**
 * eval-det's warning lines: what was left out or counted the way pycocotools does it, one line each. Pure: the
 * command prints them on stderr.
 */
import { idLabel, type Ignored, type LoadedDetections, type LoadedGroundTruth } from '../eval/coco-json.js';
import type { EvalParams } from '../eval/cocoeval.js';

function first(ignored: Ignored, field: string): string {
  const f = ignored.first;
  if (f === undefined) return '';
  return ` (first: index ${f.index}, ${field} ${typeof f.id === 'string' ? JSON.stringify(f.id) : f.id})`;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Lines for the records the readers left out as pycocotools does (nothing when none were). */
export function ignoredWarnings(gtFile: string, gt: Pick<LoadedGroundTruth, 'ignored'>, dtFile: string, dt: Pick<LoadedDetections, 'ignoredUndeclaredCategory'>): string[] {
  const lines: string[] = [];
  const d = dt.ignoredUndeclaredCategory;
  if (d.count > 0) {
    lines.push(`warning: ${dtFile}: ignored ${plural(d.count, 'detection', 'detections')} of categories ${gtFile} does not declare${first(d, 'category_id')}, as pycocotools does (--strict refuses them)`);
  }
  const { undeclaredImage: img, undeclaredCategory: cat } = gt.ignored;
  if (img.count > 0) {
    lines.push(`warning: ${gtFile}: ignored ${plural(img.count, 'annotation', 'annotations')} on images not in "images"${first(img, 'image_id')}, as pycocotools does (--strict refuses them)`);
  }
  if (cat.count > 0) {
    lines.push(`warning: ${gtFile}: ignored ${plural(cat.count, 'annotation', 'annotations')} of categories not in "categories"${first(cat, 'category_id')}, as pycocotools does (--strict refuses them)`);
  }
  return lines;
}

/**
 * Without useCats pycocotools keeps the category list as given: a category listed twice has its boxes counted
 * twice, and the list's order decides score ties. One line when that happens (nothing otherwise).
 */
export function categoryListWarning(params: EvalParams, space?: LoadedGroundTruth['categoryIdSpace']): string[] {
  if (params.useCats) return [];
  const seen = new Set<number>();
  const repeated = new Set<number>();
  for (const id of params.catIds) (seen.has(id) ? repeated : seen).add(id);
  if (repeated.size === 0) return [];
  const label = (id: number): string => (space === undefined ? String(id) : idLabel(id, space));
  return [
    `warning: useCats=0 with categories listed more than once (${[...repeated].map(label).join(', ')}): their boxes count once per listing, as pycocotools counts them`,
  ];
}
