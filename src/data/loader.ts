import type { Config } from '../config/types.js';
import { InputError } from '../util/errors.js';
import { Rng, type RngState } from '../util/rng.js';
import type { CocoDataset, ImageAnnotations, ImageRecord } from './coco.js';
import { InlineDecoder, makeDecoder, type Decoder } from './decoder.js';
import type { Normalisation } from './normalise.js';
import { padTo, transformBoxes, type DecodedImage, type DecodeRequest } from './transforms.js';
import type { Batch, Sample } from './types.js';

/**
 * Batches for training (an endless, seeded stream over epochs) and evaluation (one ordered pass).
 *
 * Training order: each epoch is a seeded shuffle of the dataset; with aspect grouping, images go into two buckets
 * (landscape or square / portrait) and a bucket becomes a batch when it holds `batchSize` images. Images left in
 * the buckets at the end of an epoch are carried to the front of the next epoch's stream, so nothing is dropped
 * and every batch is full. Per batch, a seeded generator draws the shorter side (multi-scale) and a flip per
 * image.
 *
 * The position (epoch, batch index within the epoch, carried images, generator state) is a small plain object:
 * `state()` gives the position of the next batch `next()` will return (batches decoded ahead do not count), and a
 * loader restored from it returns exactly the batches the original would have returned.
 */

export interface LoaderOptions {
  batchSize: number;
  seed: number;
  /** Shorter side in training; one drawn per batch when several are given. */
  minSizes: number[];
  maxSize: number;
  /** Batches are padded to a multiple of this. */
  sizeDivisor: number;
  flipProbability: number;
  shuffle: boolean;
  aspectGrouping: boolean;
  /** Batches decoded ahead of the one being consumed. */
  prefetch: number;
  /** Decoder worker threads; 0 decodes on the main thread (still asynchronous, in libvips). */
  workers: number;
  /** An unreadable image becomes a warning (see `warnings`) and is left out of its batch, instead of an error. */
  skipBadImages: boolean;
  /** Shorter side for `batches()` (evaluation); default minSizes[0]. */
  testMinSize?: number;
  /** Called once per skipped image (the loader never prints). */
  onWarning?: (warning: BadImageWarning) => void;
  /** A decoder to use instead of making one from `workers` (the loader then does not close it). */
  decoder?: Decoder;
  /**
   * The normalisation `batchToTensor` will be called with: the decoder then also makes the normalised floats
   * (`Sample.input`), on its worker threads, which takes that work off the thread that runs the model.
   */
  normalise?: Normalisation;
  /** Pixel limits of the decode (`DecodeRequest.maxDecodePixels`, `maxImagePixels`); absent: the decoder's defaults. */
  decodeLimits?: Pick<DecodeRequest, 'maxDecodePixels' | 'maxImagePixels'>;
}

/** Where the training stream stands; JSON-serialisable. */
export interface LoaderState {
  epoch: number;
  /** Batches already taken from this epoch's plan. */
  index: number;
  /** Dataset indices carried into this epoch from the previous one (partial buckets). */
  carry: number[];
  /** Generator for the per-batch draws (size, flips). */
  rng: RngState;
}

/** An image left out because it could not be read. */
export interface BadImageWarning {
  imageId: number;
  path: string;
  message: string;
}

export interface SampleOptions {
  minSize: number;
  maxSize: number;
  flip: boolean;
}

/**
 * Builds a Sample from a decoded image and the image's targets: boxes scaled to the target size and flipped, as
 * `batchToTensor` will resize and flip the pixels.
 */
export function assembleSample(record: ImageRecord, targets: ImageAnnotations, image: DecodedImage): Sample {
  const scaleX = image.width / image.originalWidth;
  const scaleY = image.height / image.originalHeight;
  return {
    imageId: record.id,
    pixels: image.pixels,
    decodedHeight: image.decodedHeight,
    decodedWidth: image.decodedWidth,
    height: image.height,
    width: image.width,
    originalHeight: image.originalHeight,
    originalWidth: image.originalWidth,
    scaleX,
    scaleY,
    flipped: image.flipped,
    ...(image.input !== undefined ? { input: image.input } : {}),
    boxes: transformBoxes(targets.boxes, scaleX, scaleY, image.flipped, image.width),
    labels: targets.labels.slice(),
    crowdBoxes: transformBoxes(targets.crowdBoxes, scaleX, scaleY, image.flipped, image.width),
  };
}

/** Decodes one image of the dataset and its targets. */
export async function loadSample(
  dataset: CocoDataset,
  imageId: number,
  opts: SampleOptions,
  decoder: Decoder = new InlineDecoder(),
): Promise<Sample> {
  const record = dataset.image(imageId);
  const image = await decoder.decode({
    path: record.path,
    expectedWidth: record.width,
    expectedHeight: record.height,
    minSize: opts.minSize,
    maxSize: opts.maxSize,
    flip: opts.flip,
  });
  return assembleSample(record, dataset.annotationsFor(imageId), image);
}

/** One planned training batch: which images, at which size, which flipped. */
export interface PlannedBatch {
  /** The loader position just before this batch. */
  stateBefore: LoaderState;
  /** Dataset indices (into `dataset.images`). */
  indices: number[];
  minSize: number;
  flips: boolean[];
}

/**
 * The seeded order of the training stream, without any decoding: pure bookkeeping, restorable from a state.
 * @param portrait [numImages] 1 where height > width (the aspect bucket), else 0
 */
export class BatchPlanner {
  private epoch = 0;
  private index = 0;
  private carry: number[] = [];
  private readonly rng: Rng;
  private plan: number[][] = [];
  private leftover: number[] = [];

  constructor(
    private readonly portrait: Uint8Array,
    private readonly opts: Pick<LoaderOptions, 'batchSize' | 'seed' | 'shuffle' | 'aspectGrouping' | 'minSizes' | 'flipProbability'>,
    state?: LoaderState,
  ) {
    if (portrait.length === 0) throw new InputError('data loader: the dataset has no images');
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new InputError(`data loader: batchSize must be a positive integer, got ${opts.batchSize}`);
    if (opts.minSizes.length === 0) throw new InputError('data loader: minSizes is empty');
    this.rng = new Rng(opts.seed);
    if (state !== undefined) {
      checkState(state, portrait.length);
      this.epoch = state.epoch;
      this.carry = state.carry.slice();
      this.rng.setState(state.rng);
      this.makePlan();
      if (state.index > this.plan.length) throw new InputError(`loader state: index ${state.index} beyond the ${this.plan.length} batches of epoch ${state.epoch}`);
      this.index = state.index;
      this.rollOver();
    } else {
      this.makePlan();
      this.rollOver();
    }
  }

  state(): LoaderState {
    return { epoch: this.epoch, index: this.index, carry: this.carry.slice(), rng: this.rng.getState() };
  }

  next(): PlannedBatch {
    const stateBefore = this.state();
    const indices = this.plan[this.index]!;
    const sizes = this.opts.minSizes;
    const minSize = sizes.length > 1 ? sizes[this.rng.int(sizes.length)]! : sizes[0]!;
    const flips = indices.map(() => this.rng.next() < this.opts.flipProbability);
    this.index++;
    this.rollOver();
    return { stateBefore, indices, minSize, flips };
  }

  /** Moves to the next epoch(s) until the current one has a batch left. */
  private rollOver(): void {
    while (this.index >= this.plan.length) {
      this.carry = this.leftover;
      this.epoch++;
      this.index = 0;
      this.makePlan();
    }
  }

  /** This epoch's batches from (carry, seed, epoch); the leftover goes to the next epoch. */
  private makePlan(): void {
    const n = this.portrait.length;
    const order = Array.from({ length: n }, (_, i) => i);
    if (this.opts.shuffle) new Rng((this.opts.seed ^ Math.imul(this.epoch + 1, 0x9e3779b1)) >>> 0).shuffle(order);
    const stream = this.carry.concat(order);
    const bs = this.opts.batchSize;
    const buckets: number[][] = [[], []];
    const plan: number[][] = [];
    for (const i of stream) {
      const bucket = buckets[this.opts.aspectGrouping ? this.portrait[i]! : 0]!;
      bucket.push(i);
      if (bucket.length === bs) {
        plan.push(bucket.slice());
        bucket.length = 0;
      }
    }
    this.plan = plan;
    this.leftover = buckets[0]!.concat(buckets[1]!);
  }
}

function checkState(state: LoaderState, n: number): void {
  const ok =
    typeof state === 'object' &&
    state !== null &&
    Number.isInteger(state.epoch) &&
    state.epoch >= 0 &&
    Number.isInteger(state.index) &&
    state.index >= 0 &&
    Array.isArray(state.carry) &&
    state.carry.every((i) => Number.isInteger(i) && i >= 0 && i < n) &&
    Array.isArray(state.rng) &&
    state.rng.length === 4 &&
    state.rng.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff);
  if (!ok) throw new InputError(`loader state: malformed (${JSON.stringify(state)})`);
}

interface Queued {
  stateBefore: LoaderState;
  /** Resolves to null when every image of the batch was skipped as bad. */
  batch: Promise<Batch | null>;
}

export class DataLoader {
  private planner: BatchPlanner;
  private readonly decoder: Decoder;
  private readonly ownsDecoder: boolean;
  private queue: Queued[] = [];
  private readonly bad: BadImageWarning[] = [];
  private readonly portrait: Uint8Array;

  constructor(
    readonly dataset: CocoDataset,
    readonly opts: LoaderOptions,
  ) {
    if (!(opts.maxSize > 0)) throw new InputError(`data loader: maxSize must be positive, got ${opts.maxSize}`);
    if (!Number.isInteger(opts.prefetch) || opts.prefetch < 0) throw new InputError(`data loader: prefetch must be an integer >= 0, got ${opts.prefetch}`);
    if (dataset.images.length === 0) throw new InputError(`${dataset.source}: the data loader has no images to load (the split is empty)`);
    this.portrait = Uint8Array.from(dataset.images, (im) => (im.height > im.width ? 1 : 0));
    this.planner = new BatchPlanner(this.portrait, opts);
    this.ownsDecoder = opts.decoder === undefined;
    this.decoder = opts.decoder ?? makeDecoder(opts.workers);
  }

  /** The next training batch (endless). Up to `prefetch` further batches are decoded meanwhile. */
  async next(): Promise<Batch> {
    for (;;) {
      if (this.queue.length === 0) this.enqueue();
      const head = this.queue.shift()!;
      while (this.queue.length < this.opts.prefetch) this.enqueue();
      const batch = await head.batch;
      if (batch !== null) return batch;
    }
  }

  /** Position of the next batch `next()` returns. */
  state(): LoaderState {
    return this.queue.length > 0 ? structuredClone(this.queue[0]!.stateBefore) : this.planner.state();
  }

  /** Continues from a saved position; batches decoded ahead are discarded. */
  restore(state: LoaderState): void {
    this.queue = [];
    this.planner = new BatchPlanner(this.portrait, this.opts, state);
  }

  /** Images skipped as unreadable so far (with skipBadImages). */
  get warnings(): readonly BadImageWarning[] {
    return this.bad;
  }

  get badImageCount(): number {
    return this.bad.length;
  }

  /**
   * One ordered pass over the dataset for evaluation: images in `dataset.images` order, no flip, shorter side
   * `testMinSize`, the last batch possibly smaller. Independent of the training position.
   */
  async *batches(): AsyncGenerator<Batch> {
    const bs = this.opts.batchSize;
    const minSize = this.opts.testMinSize ?? this.opts.minSizes[0]!;
    const total = this.dataset.images.length;
    const pending: Promise<Batch | null>[] = [];
    let start = 0;
    const launch = (): void => {
      const indices: number[] = [];
      for (let i = start; i < Math.min(total, start + bs); i++) indices.push(i);
      start += indices.length;
      pending.push(this.guard(this.decodeBatch(indices, minSize, indices.map(() => false))));
    };
    while (start < total || pending.length > 0) {
      while (start < total && pending.length < this.opts.prefetch + 1) launch();
      const batch = await pending.shift()!;
      if (batch !== null) yield batch;
    }
  }

  /** Stops the decoder threads (when the loader made them). */
  async close(): Promise<void> {
    this.queue = [];
    if (this.ownsDecoder) await this.decoder.close();
  }

  private enqueue(): void {
    const plan = this.planner.next();
    this.queue.push({ stateBefore: plan.stateBefore, batch: this.guard(this.decodeBatch(plan.indices, plan.minSize, plan.flips)) });
  }

  /** Marks a promise as handled (a batch dropped by restore() may fail unobserved) and returns it. */
  private guard<T>(p: Promise<T>): Promise<T> {
    p.catch(() => undefined);
    return p;
  }

  private async decodeBatch(indices: number[], minSize: number, flips: boolean[]): Promise<Batch | null> {
    const results = await Promise.allSettled(
      indices.map((idx, k) => {
        const record = this.dataset.images[idx]!;
        return this.decoder
          .decode({
            path: record.path,
            expectedWidth: record.width,
            expectedHeight: record.height,
            minSize,
            maxSize: this.opts.maxSize,
            flip: flips[k]!,
            ...(this.opts.normalise !== undefined ? { normalise: this.opts.normalise } : {}),
            ...this.opts.decodeLimits,
          })
          .then((image) => assembleSample(record, this.dataset.annotationsFor(record.id), image));
      }),
    );
    const samples: Sample[] = [];
    results.forEach((r, k) => {
      if (r.status === 'fulfilled') {
        samples.push(r.value);
        return;
      }
      const err = r.reason as Error;
      if (!(err instanceof InputError) || !this.opts.skipBadImages) throw err;
      const record = this.dataset.images[indices[k]!]!;
      const warning = { imageId: record.id, path: record.path, message: err.message };
      this.bad.push(warning);
      this.opts.onWarning?.(warning);
    });
    if (samples.length === 0) return null;
    let h = 0;
    let w = 0;
    for (const s of samples) {
      h = Math.max(h, s.height);
      w = Math.max(w, s.width);
    }
    return { samples, paddedHeight: padTo(h, this.opts.sizeDivisor), paddedWidth: padTo(w, this.opts.sizeDivisor) };
  }
}

/** Loader options from the resolved config (training: the train sizes and flips; evaluation: no flip). */
export function loaderOptionsFromConfig(config: Config, forTraining: boolean): LoaderOptions {
  return {
    batchSize: config.solver.batchSize,
    seed: config.seed,
    minSizes: forTraining ? config.input.trainMinSizes.slice() : [config.input.testMinSize],
    maxSize: config.input.maxSize,
    sizeDivisor: config.input.sizeDivisor,
    flipProbability: forTraining ? config.input.flipProbability : 0,
    shuffle: forTraining,
    aspectGrouping: forTraining && config.data.aspectGrouping,
    prefetch: config.data.prefetch,
    workers: config.data.workers,
    skipBadImages: config.data.skipBadImages,
    testMinSize: config.input.testMinSize,
    normalise: { mean: config.input.pixelMean.slice(), std: config.input.pixelStd.slice() },
    decodeLimits: { maxDecodePixels: config.data.maxDecodePixels, maxImagePixels: config.data.maxImagePixels },
  };
}
