import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
// sharp is loaded in the main thread before any worker starts, so its shared libraries stay loaded while workers
// come and go (glibc would otherwise unload them under a running worker).
import 'sharp';
import { InputError } from '../util/errors.js';
import { decodeImage, type DecodedImage, type DecodeRequest } from './transforms.js';

/**
 * Where images are decoded: on the main thread (sharp is still asynchronous there, on libuv's thread pool), or in
 * a pool of worker threads. Either way results come back in the order they are awaited by the caller.
 */
export interface Decoder {
  decode(req: DecodeRequest): Promise<DecodedImage>;
  /** Stops the worker threads (after the jobs in flight settle). */
  close(): Promise<void>;
}

/** Decodes on the calling thread. */
export class InlineDecoder implements Decoder {
  decode(req: DecodeRequest): Promise<DecodedImage> {
    return decodeImage(req);
  }

  async close(): Promise<void> {}
}

interface Pending {
  owner: PoolWorker;
  resolve: (image: DecodedImage) => void;
  reject: (err: Error) => void;
}

interface WorkerReply {
  id: number;
  image?: DecodedImage;
  error?: { name: string; message: string };
}

interface PoolWorker {
  worker: Worker;
  inFlight: number;
}

/**
 * A pool of `size` worker threads, each running decode-worker.ts; a job goes to the least busy worker.
 * Run from TypeScript sources (tests, `tsx`), workers load the `.ts` file through tsx; from the build, the `.js`.
 */
export class WorkerDecoder implements Decoder {
  private readonly workers: PoolWorker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`WorkerDecoder: size must be a positive integer, got ${size}`);
  }

  decode(req: DecodeRequest): Promise<DecodedImage> {
    if (this.closed) return Promise.reject(new Error('WorkerDecoder: decode after close'));
    if (this.workers.length === 0) this.start();
    const id = this.nextId++;
    let target = this.workers[0]!;
    for (const w of this.workers) if (w.inFlight < target.inFlight) target = w;
    if (target.inFlight++ === 0) target.worker.ref(); // keep the process alive while a job is out
    return new Promise<DecodedImage>((resolve, reject) => {
      this.pending.set(id, {
        owner: target,
        resolve: (image) => {
          this.release(target);
          resolve(image);
        },
        reject: (err) => {
          this.release(target);
          reject(err);
        },
      });
      target.worker.postMessage({ id, request: req });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Let jobs in flight settle, then stop the threads.
    await Promise.all(
      [...this.pending.values()].map(
        (p) =>
          new Promise<void>((done) => {
            const { resolve, reject } = p;
            p.resolve = (image) => {
              resolve(image);
              done();
            };
            p.reject = (err) => {
              reject(err);
              done();
            };
          }),
      ),
    );
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    this.workers.length = 0;
  }

  private start(): void {
    for (let i = 0; i < this.size; i++) {
      const worker = workerFromModule(import.meta.url.endsWith('.ts') ? './decode-worker.ts' : './decode-worker.js');
      worker.unref();
      const entry: PoolWorker = { worker, inFlight: 0 };
      worker.on('message', (reply: WorkerReply) => this.settle(reply));
      worker.on('error', (err) => this.retire(entry, err.message));
      worker.on('exit', (code) => this.retire(entry, `exited with code ${code}`));
      this.workers.push(entry);
    }
  }

  private release(w: PoolWorker): void {
    if (--w.inFlight === 0) w.worker.unref();
  }

  private settle(reply: WorkerReply): void {
    const p = this.pending.get(reply.id);
    if (p === undefined) return;
    this.pending.delete(reply.id);
    if (reply.image !== undefined) {
      p.resolve(reply.image);
    } else {
      const e = reply.error ?? { name: 'Error', message: 'decode worker sent no result' };
      p.reject(e.name === 'InputError' ? new InputError(e.message) : new Error(e.message));
    }
  }

  /**
   * A worker that failed or stopped leaves the pool; its jobs in flight fail (they are not retried: the image may
   * be what killed it). When no worker is left, the next job starts a fresh pool.
   */
  private retire(entry: PoolWorker, why: string): void {
    const k = this.workers.indexOf(entry);
    if (k < 0) return;
    this.workers.splice(k, 1);
    for (const [id, p] of this.pending) {
      if (p.owner !== entry) continue;
      this.pending.delete(id);
      p.reject(new Error(`decode worker stopped (${why})`));
    }
  }
}

/**
 * Starts a worker on a sibling module. A `.ts` module (running from sources under vitest or tsx) is loaded
 * through tsx's loader, registered inside the worker: Node 20 workers do not inherit the main thread's loaders.
 */
function workerFromModule(relative: string): Worker {
  const url = new URL(relative, import.meta.url);
  if (!relative.endsWith('.ts')) return new Worker(fileURLToPath(url));
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const stub = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(stub, { eval: true });
}

/** `workers` 0: decode on the main thread; n > 0: a pool of n worker threads. */
export function makeDecoder(workers: number): Decoder {
  return workers > 0 ? new WorkerDecoder(workers) : new InlineDecoder();
}
