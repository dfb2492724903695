import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { CocoDataset } from '../../src/data/coco.js';
import { loadSample } from '../../src/data/loader.js';
import { batchToTensor } from '../../src/data/tensor.js';
import { decodeImage, padTo, resizedSize, transformBoxes, type DecodedImage, type DecodeRequest } from '../../src/data/transforms.js';
import type { Sample } from '../../src/data/types.js';
import { InputError } from '../../src/util/errors.js';
import { COCO_MINI, cocoMiniSkip } from '../helpers.js';
import { gradientImage, solidImage, tempDir } from './fixtures.js';

/** A decoded image as a Sample without targets. */
function asSample(d: DecodedImage): Sample {
  const none = { boxes: new Float32Array(0), labels: new Int32Array(0), crowdBoxes: new Float32Array(0) };
  return { ...d, ...none, imageId: 1, scaleX: d.width / d.originalWidth, scaleY: d.height / d.originalHeight };
}

describe('resizedSize', () => {
  it('sets the shorter side to minSize unless the longer would pass maxSize', () => {
    // 640x480 (w x h), 800/1333: scale 800/480 = 1.6667, longer 640 * 1.6667 = 1066.67 -> 1067
    expect(resizedSize(480, 640, 800, 1333)).toEqual({ height: 800, width: 1067 });
    // portrait 480x640 (w x h): the same with the axes swapped
    expect(resizedSize(640, 480, 800, 1333)).toEqual({ height: 1067, width: 800 });
    // 1000x200 (w x h): 800/200 = 4 would make 4000 > 1333, so longer = 1333, shorter 200 * 1.333 = 266.6 -> 267
    expect(resizedSize(200, 1000, 800, 1333)).toEqual({ height: 267, width: 1333 });
    // square stays square
    expect(resizedSize(500, 500, 800, 1333)).toEqual({ height: 800, width: 800 });
    // downscaling: 640x427 to 320: 427 -> 320, 640 * 320 / 427 = 479.63 -> 480
    expect(resizedSize(427, 640, 320, 1333)).toEqual({ height: 320, width: 480 });
  });

  it('pads up to the divisor', () => {
    expect(padTo(800, 32)).toBe(800);
    expect(padTo(1067, 32)).toBe(1088); // 34 * 32 = 1088
    expect(padTo(1067, 0)).toBe(1067);
  });
});

describe('transformBoxes', () => {
  it('scales per axis and flips about the new width', () => {
    // box [10, 20, 30, 40] in 100x50 -> 200x75: scaleX 2, scaleY 1.5 -> [20, 30, 60, 60]; flip in width 200:
    // x1 = 200 - 60 = 140, x2 = 200 - 20 = 180
    const b = Float32Array.of(10, 20, 30, 40);
    expect(Array.from(transformBoxes(b, 2, 1.5, false, 200))).toEqual([20, 30, 60, 60]);
    expect(Array.from(transformBoxes(b, 2, 1.5, true, 200))).toEqual([140, 30, 180, 60]);
    expect(transformBoxes(new Float32Array(0), 2, 2, true, 10)).toHaveLength(0);
  });
});

describe('decodeImage', () => {
  const dir = tempDir();
  const req = (path: string, w: number, h: number, extra: Partial<DecodeRequest> = {}): DecodeRequest => ({
    path,
    expectedWidth: w,
    expectedHeight: h,
    minSize: Math.min(w, h),
    maxSize: 10000,
    flip: false,
    ...extra,
  });

  it('keeps pixels in place at the stored size; a flip is passed on, and batchToTensor mirrors columns exactly', async () => {
    const path = join(dir, 'grad.png');
    await gradientImage(path, 40, 30);
    const plain = await decodeImage(req(path, 40, 30));
    expect([plain.width, plain.height, plain.pixels.length]).toEqual([40, 30, 40 * 30 * 3]);
    // pixel (x=7, y=5) is (7, 5, 12)
    const o = (5 * 40 + 7) * 3;
    expect(Array.from(plain.pixels.subarray(o, o + 3))).toEqual([7, 5, 12]);
    const flipped = await decodeImage(req(path, 40, 30, { flip: true }));
    expect(flipped.flipped).toBe(true);
    expect(Buffer.from(flipped.pixels).equals(Buffer.from(plain.pixels))).toBe(true); // decoded as stored
    // on the tensor side (mean 0, std 1/255: values = bytes), flipped (x=7) holds original x = 40 - 1 - 7 = 32:
    // (32, 5, 37)
    const t = batchToTensor({ samples: [asSample(flipped)], paddedHeight: 30, paddedWidth: 40 }, [0, 0, 0], [1 / 255, 1 / 255, 1 / 255]);
    const v = t.dataSync();
    t.dispose();
    Array.from(v.subarray(o, o + 3)).forEach((got, c) => expect(got).toBeCloseTo([32, 5, 37][c]!, 4));
  });

  it('computes the target size and decodes at the stored size', async () => {
    const path = join(dir, 'grad2.png');
    await gradientImage(path, 40, 30);
    const out = await decodeImage(req(path, 40, 30, { minSize: 60, maxSize: 1000 }));
    // 30 -> 60 (x2), 40 -> 80
    expect([out.width, out.height, out.originalWidth, out.originalHeight]).toEqual([80, 60, 40, 30]);
    expect([out.decodedWidth, out.decodedHeight]).toEqual([40, 30]);
    expect(out.pixels).toHaveLength(40 * 30 * 3);
  });

  it('turns grayscale JPEG and PNG, CMYK JPEG and RGBA PNG into 3-channel RGB', async () => {
    const base = sharp({ create: { width: 24, height: 16, channels: 3, background: { r: 200, g: 120, b: 40 } } });
    const grayJpeg = join(dir, 'gray.jpg');
    await base.clone().toColourspace('b-w').jpeg().toFile(grayJpeg);
    expect((await sharp(grayJpeg).metadata()).channels).toBe(1);
    const grayPng = join(dir, 'gray.png');
    await base.clone().toColourspace('b-w').png().toFile(grayPng);
    const cmyk = join(dir, 'cmyk.jpg');
    await base.clone().toColourspace('cmyk').jpeg({ quality: 100 }).toFile(cmyk);
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const rgba = join(dir, 'rgba.png');
    await sharp({ create: { width: 24, height: 16, channels: 4, background: { r: 200, g: 120, b: 40, alpha: 0.5 } } }).png().toFile(rgba);
    const webp = join(dir, 'img.webp');
    await base.clone().webp({ lossless: true }).toFile(webp);
    for (const path of [grayJpeg, grayPng]) {
      const out = await decodeImage(req(path, 24, 16));
      expect(out.pixels).toHaveLength(24 * 16 * 3);
      // gray: R = G = B at every pixel
      const p = out.pixels;
      for (let i = 0; i < p.length; i += 3) expect(p[i] === p[i + 1] && p[i + 1] === p[i + 2]).toBe(true);
    }
    for (const path of [cmyk, rgba, webp]) {
      const out = await decodeImage(req(path, 24, 16));
      expect(out.pixels).toHaveLength(24 * 16 * 3);
      // close to the source colour (200, 120, 40); CMYK goes through a colour profile, hence the tolerance
      const [r, g, b] = Array.from(out.pixels.subarray(0, 3));
      expect(Math.abs(r! - 200)).toBeLessThan(16);
      expect(Math.abs(g! - 120)).toBeLessThan(16);
      expect(Math.abs(b! - 40)).toBeLessThan(16);
    }
  });

  it('does not apply EXIF orientation: stored-pixel size and layout are kept', async () => {
    const path = join(dir, 'rotated.jpg');
    // 30 wide, 20 high, left half red and right half blue, tagged "rotate 90 degrees clockwise to display"
    const px = Buffer.alloc(30 * 20 * 3);
    for (let y = 0; y < 20; y++) for (let x = 0; x < 30; x++) px.set(x < 15 ? [255, 0, 0] : [0, 0, 255], (y * 30 + x) * 3);
    await sharp(px, { raw: { width: 30, height: 20, channels: 3 } }).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toFile(path);
    expect((await sharp(path).metadata()).orientation).toBe(6);
    const out = await decodeImage(req(path, 30, 20));
    expect([out.width, out.height]).toEqual([30, 20]);
    const at = (x: number, y: number): number[] => Array.from(out.pixels.subarray((y * 30 + x) * 3, (y * 30 + x) * 3 + 3));
    expect(at(2, 10)[0]).toBeGreaterThan(200); // left is still red
    expect(at(27, 10)[2]).toBeGreaterThan(200); // right is still blue
    // and the rotated size is an error: the annotation file must state stored pixels
    await expect(decodeImage(req(path, 20, 30))).rejects.toThrow(/stored image is 30x20.*says 20x30/);
  });

  it('rejects a missing file, a corrupt JPEG and a size mismatch with one-line errors naming the file', async () => {
    const missing = join(dir, 'missing.jpg');
    await expect(decodeImage(req(missing, 10, 10))).rejects.toThrow(new InputError(`${missing}: image file not found`));
    const good = join(dir, 'good.jpg');
    await solidImage(good, 64, 48, [10, 200, 30]);
    const truncated = join(dir, 'truncated.jpg');
    const bytes = readFileSync(good);
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const garbage = join(dir, 'garbage.jpg');
    writeFileSync(garbage, Buffer.from('this is not an image at all'));
    for (const path of [truncated, garbage]) {
      const err = (await decodeImage(req(path, 64, 48)).then(
        () => null,
        (e: unknown) => e as Error,
      ))!;
      expect(err).toBeInstanceOf(InputError);
      expect(err.message).toMatch(new RegExp(`^${path.replace(/[.]/g, '\\.')}: cannot decode image`));
      expect(err!.message.split('\n')).toHaveLength(1);
    }
    // libjpeg's "extraneous bytes before marker" warning (some COCO images have it) is not an error
    const extraneous = join(dir, 'extraneous.jpg');
    const dqt = bytes.indexOf(Buffer.from([0xff, 0xdb])); // junk between two header markers
    writeFileSync(extraneous, Buffer.concat([bytes.subarray(0, dqt), Buffer.from([0x12, 0x34]), bytes.subarray(dqt)]));
    const tolerated = await decodeImage(req(extraneous, 64, 48));
    expect(tolerated.pixels[1]).toBeGreaterThan(150); // the green of the solid image
    const copy = join(dir, 'copy.jpg');
    copyFileSync(good, copy);
    await expect(decodeImage(req(copy, 64, 50))).rejects.toThrow(`${copy}: stored image is 64x48 (w x h) but the annotation file says 64x50`);
  });
});

const COCO_MINI_SKIP = cocoMiniSkip();

describe.skipIf(COCO_MINI === null)(`transforms on coco-mini ${COCO_MINI_SKIP}`, () => {
  if (COCO_MINI === null) {
    // nothing to collect without the data; this skipped test carries the reason into the report
    it.skip(COCO_MINI_SKIP, () => undefined);
    return;
  }
  const root = COCO_MINI;
  const train = CocoDataset.load(join(root, 'annotations/instances_train2017.json'), join(root, 'images/train2017'), { forTraining: true });

  it('resizes and flips image 216794 with hand-computed boxes', async () => {
    // 640x480, one box: bbox [500.24, 251.31, 139.7, 90.03] (category 15, bench -> label 13)
    // xyxy [500.24, 251.31, 639.94, 341.34]; min 600 / max 1000: scale 600 / 480 = 1.25 on both axes -> 800x600
    // scaled [625.3, 314.1375, 799.925, 426.675]; flipped about width 800: [800 - 799.925, ., 800 - 625.3, .]
    const s = await loadSample(train, 216794, { minSize: 600, maxSize: 1000, flip: true });
    expect([s.width, s.height, s.originalWidth, s.originalHeight]).toEqual([800, 600, 640, 480]);
    expect([s.scaleX, s.scaleY]).toEqual([1.25, 1.25]);
    expect(s.flipped).toBe(true);
    expect(Array.from(s.labels)).toEqual([13]);
    const expected = [0.075, 314.1375, 174.7, 426.675];
    Array.from(s.boxes).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 3));
    const unflipped = await loadSample(train, 216794, { minSize: 600, maxSize: 1000, flip: false });
    const expectedPlain = [625.3, 314.1375, 799.925, 426.675];
    Array.from(unflipped.boxes).forEach((v, i) => expect(v).toBeCloseTo(expectedPlain[i]!, 3));
    // the flipped network input is the unflipped one mirrored: row 300, columns 100 and 800 - 1 - 100 = 699
    const input = (sample: typeof s): Float32Array => {
      const t = batchToTensor({ samples: [sample], paddedHeight: 600, paddedWidth: 800 }, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
      const d = t.dataSync() as Float32Array;
      t.dispose();
      return d;
    };
    const [a, b] = [input(s), input(unflipped)];
    const px = (d: Float32Array, x: number, y: number): number[] => Array.from(d.subarray((y * 800 + x) * 3, (y * 800 + x) * 3 + 3));
    px(a, 100, 300).forEach((v, c) => expect(v).toBeCloseTo(px(b, 699, 300)[c]!, 4));
  });

  it('scales per axis when rounding makes the factors differ (image 535506, portrait, with a crowd box)', async () => {
    // 480x640 (w x h) at 800/1333: width 480 -> 800 (x 5/3), height 640 * 5/3 = 1066.67 -> 1067
    // scaleX = 800 / 480 = 1.666667, scaleY = 1067 / 640 = 1.6671875
    // crowd [1, 88, 84, 159] -> [1.6667, 146.7125, 140, 265.0828]; flipped in width 800: [660, ., 798.3333, .]
    const s = await loadSample(train, 535506, { minSize: 800, maxSize: 1333, flip: true });
    expect([s.width, s.height]).toEqual([800, 1067]);
    expect(s.scaleX).toBeCloseTo(800 / 480, 10);
    expect(s.scaleY).toBeCloseTo(1067 / 640, 10);
    const expected = [660, 146.7125, 798.3333, 265.0828];
    Array.from(s.crowdBoxes).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 3));
    expect(s.boxes).toHaveLength(28 * 4);
  });

  it('loads every image with the size its JSON states (train and val)', async () => {
    const val = CocoDataset.load(join(root, 'annotations/instances_val2017.json'), join(root, 'images/val2017'), { forTraining: false });
    let n = 0;
    for (const ds of [train, val]) {
      for (const im of ds.images) {
        // the smallest size keeps this fast: shorter side 32
        const out = await decodeImage({ path: im.path, expectedWidth: im.width, expectedHeight: im.height, minSize: 32, maxSize: 10000, flip: false });
        expect([out.originalWidth, out.originalHeight]).toEqual([im.width, im.height]);
        expect(Math.min(out.width, out.height)).toBe(32);
        n++;
      }
    }
    expect(n).toBe(159);
  });
});
