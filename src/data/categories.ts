import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../util/errors.js';
import type { Category } from './coco.js';

/** The file beside a run's config.json that names its classes: `[{ "id": 1, "name": "circle" }, ...]`. */
export const CATEGORIES_FILE = 'categories.json';

/** Category ids and names in label order: label k is `ids[k]` / `names[k]`. */
export interface CategoryList {
  ids: number[];
  names: string[];
}

/** Writes a dataset's categories (label order) into `dir`, so a checkpoint of the run can name its classes. */
export function writeCategoryList(dir: string, categories: readonly Category[]): void {
  mkdirSync(dir, { recursive: true });
  const rows = categories.map((c) => ({ id: c.id, name: c.name }));
  writeFileSync(join(dir, CATEGORIES_FILE), `${JSON.stringify(rows, null, 1)}\n`);
}

/** Reads `dir/categories.json`; null when the run wrote none. */
export function readCategoryList(dir: string): CategoryList | null {
  const path = join(dir, CATEGORIES_FILE);
  if (!existsSync(path)) return null;
  let rows: unknown;
  try {
    rows = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new InputError(`${path}: malformed JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(rows)) throw new InputError(`${path}: expected an array of {id, name}`);
  const list: CategoryList = { ids: [], names: [] };
  rows.forEach((row: unknown, index) => {
    const { id, name } = (row ?? {}) as { id?: unknown; name?: unknown };
    if (!Number.isInteger(id)) throw new InputError(`${path}: index ${index}: field "id" must be an integer`);
    if (typeof name !== 'string') throw new InputError(`${path}: index ${index}: field "name" must be a string`);
    list.ids.push(id as number);
    list.names.push(name);
  });
  return list;
}
