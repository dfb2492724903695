import { parentPort } from 'node:worker_threads';
import { decodeImage, type DecodeRequest } from './transforms.js';

/**
 * Worker-thread entry: decodes the images the loader sends and posts the pixels back (buffer transferred, not
 * copied). Started by `WorkerDecoder` in decoder.ts; not imported anywhere else.
 */

interface Job {
  id: number;
  request: DecodeRequest;
}

const port = parentPort;
if (port === null) throw new Error('decode-worker.ts must run in a worker thread');

port.on('message', (job: Job) => {
  decodeImage(job.request).then(
    (image) => {
      // Transfer the pixel buffer when it is exactly ours; otherwise copy once into a fresh one.
      let pixels = image.pixels;
      if (pixels.byteOffset !== 0 || pixels.byteLength !== pixels.buffer.byteLength) pixels = pixels.slice();
      port.postMessage({ id: job.id, image: { ...image, pixels } }, [pixels.buffer as ArrayBuffer]);
    },
    (err: unknown) => {
      const e = err as Error;
      port.postMessage({ id: job.id, error: { name: e?.name ?? 'Error', message: String(e?.message ?? err) } });
    },
  );
});
