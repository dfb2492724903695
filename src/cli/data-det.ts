#!/usr/bin/env node
/**
 * data-det: look at a dataset before training on it.
 *
 *   data-det show --out DIR [--data ROOT] [--split val2017] [--json FILE --images DIR] [--num 16]
 *
 * Draws the ground-truth boxes (class name tags) of the first N images of a COCO dataset, one PNG / JPEG per
 * image in DIR, and prints the dataset's size: a custom dataset's boxes, classes and image paths are checked in a
 * minute, before a training run finds a problem. With no dataset named: the embedded shapes set's val split.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { CocoDataset, cocoSplitPaths } from '../data/coco.js';
import { ensureShapesDataset } from '../data/shapes.js';
import { drawDetections } from '../infer/draw.js';
import { drawnPath } from '../infer/run.js';
import { InputError } from '../util/errors.js';
import { exitOnError } from './exit.js';

/** Where the embedded shapes set is generated (as train-det does). */
const SHAPES_DIR = fileURLToPath(new URL('../../data/shapes', import.meta.url));

function positiveInt(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be a positive integer, got "${value}"`);
    return n;
  };
}

interface ShowFlags {
  out: string;
  data?: string;
  split: string;
  json?: string;
  images?: string;
  num: number;
}

/** Draws the ground truth of the first `num` images into `out` and prints one summary line. */
async function showDataset(flags: ShowFlags, print: (line: string) => void): Promise<void> {
  if ((flags.json === undefined) !== (flags.images === undefined)) throw new InputError('--json and --images go together (an annotation file and its image folder)');
  let annotationFile: string;
  let imageDir: string;
  if (flags.json !== undefined) {
    annotationFile = flags.json;
    imageDir = flags.images!;
  } else {
    const root = flags.data ?? (await ensureShapesDataset(SHAPES_DIR));
    ({ annotationFile, imageDir } = cocoSplitPaths(root, flags.split));
  }
  const dataset = CocoDataset.load(annotationFile, imageDir, { forTraining: false, limit: flags.num });
  mkdirSync(flags.out, { recursive: true });
  const names = dataset.categories.map((c) => c.name);
  let boxes = 0;
  for (const image of dataset.images) {
    const gt = dataset.annotationsFor(image.id);
    boxes += gt.labels.length;
    const out = drawnPath(flags.out, image.path);
    const drawn = await drawDetections(image.path, { boxes: gt.boxes, scores: new Float32Array(gt.labels.length).fill(1), labels: gt.labels }, names, {
      showScores: false,
      format: out.endsWith('.jpg') ? 'jpeg' : 'png',
    }).catch((err: unknown) => {
      throw new InputError(`${image.path}: cannot draw image ${image.id} (${(err as Error).message})`);
    });
    writeFileSync(out, drawn);
  }
  print(
    `${annotationFile}: ${dataset.categories.length} categories (${names.slice(0, 8).join(', ')}${names.length > 8 ? ', ...' : ''}); ` +
      `drew ${boxes} boxes on ${dataset.images.length} image(s) into ${join(flags.out)}`,
  );
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('data-det').description('Look at a COCO dataset before training on it').exitOverride().configureOutput({ writeErr: () => undefined });
  program
    .command('show')
    .description('draw the ground-truth boxes of the first N images into a folder')
    .requiredOption('--out <dir>', 'folder for the drawn images')
    .option('--data <root>', 'COCO-layout root (annotations/, train2017/, val2017/); default: the embedded shapes set')
    .option('--split <name>', 'split of the root layout', 'val2017')
    .option('--json <file>', 'annotation file (instead of a root layout; with --images)')
    .option('--images <dir>', 'image folder of --json')
    .option('--num <n>', 'images to draw', positiveInt('--num'), 16)
    .action(async (flags: ShowFlags) => showDataset(flags, (line) => process.stdout.write(`${line}\n`)));
  await program.parseAsync(argv);
}

main(process.argv).catch((err: unknown) => exitOnError('data-det', err));
