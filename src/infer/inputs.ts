import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { InputError } from '../util/errors.js';

/** File extensions read as images when a directory is given. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif'];

/** One image to run on, with the id its results carry. */
export interface ImageInput {
  path: string;
  /** COCO image id: the number a COCO file name holds (000000397133.jpg -> 397133), else 1-based position. */
  imageId: number;
}

/**
 * Expands files and directories (not recursive; image extensions only, sorted by name) into the images to run on.
 * A path that does not exist, or a directory without images, is an InputError naming it. Ids come from COCO
 * file names when every name is a number, so results line up with a COCO annotation file; otherwise images are
 * numbered 1..N in order.
 */
export function listImages(paths: readonly string[]): ImageInput[] {
  const files: string[] = [];
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      throw new InputError(`${path}: no such file or directory`);
    }
    if (!isDir) {
      files.push(path);
      continue;
    }
    const inDir = readdirSync(path)
      .filter((name) => IMAGE_EXTENSIONS.includes(extname(name).toLowerCase()))
      .sort()
      .map((name) => join(path, name));
    if (inDir.length === 0) throw new InputError(`${path}: directory holds no images (${IMAGE_EXTENSIONS.join(', ')})`);
    files.push(...inDir);
  }
  const numeric = files.map((f) => /^\d+$/.exec(basename(f, extname(f))));
  const useNames = numeric.every((m) => m !== null) && new Set(numeric.map((m) => Number(m![0]))).size === files.length;
  return files.map((path, i) => ({ path, imageId: useNames ? Number(numeric[i]![0]) : i + 1 }));
}
