import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

/** A fresh temporary directory for one test file. */
export function tempDir(prefix = 'psdet-data-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A solid-colour JPEG (or PNG) of the given size. */
export async function solidImage(path: string, width: number, height: number, rgb: [number, number, number], format: 'jpeg' | 'png' = 'jpeg'): Promise<void> {
  const img = sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
  await (format === 'jpeg' ? img.jpeg({ quality: 95 }) : img.png()).toFile(path);
}

/**
 * A PNG whose pixel (x, y) is (x, y, (x + y) % 256): positions can be read back from the colours.
 */
export async function gradientImage(path: string, width: number, height: number): Promise<void> {
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      px[o] = x % 256;
      px[o + 1] = y % 256;
      px[o + 2] = (x + y) % 256;
    }
  }
  await sharp(px, { raw: { width, height, channels: 3 } }).png().toFile(path);
}

/** Writes a COCO-layout root with one split and returns the annotation file path. */
export function writeCoco(root: string, split: string, json: unknown): string {
  mkdirSync(join(root, 'annotations'), { recursive: true });
  mkdirSync(join(root, split), { recursive: true });
  const file = join(root, 'annotations', `instances_${split}.json`);
  writeFileSync(file, typeof json === 'string' ? json : JSON.stringify(json));
  return file;
}
