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
      // Transfer the pixel buffer when it is exactly ours; otherwise copy once into a fresh one. The input floats
      // (with a normalisation) are always a buffer of their own.
      let pixels = image.pixels;
      if (pixels.byteOffset !== 0 || pixels.byteLength !== pixels.buffer.byteLength) pixels = pixels.slice();
      const transfer = [pixels.buffer as ArrayBuffer];
      if (image.input !== undefined) transfer.push(image.input.floats.buffer as ArrayBuffer);
      port.postMessage({ id: job.id, image: { ...image, pixels } }, transfer);
    },
    (err: unknown) => {
      const e = err as Error;
      port.postMessage({ id: job.id, error: { name: e?.name ?? 'Error', message: String(e?.message ?? err) } });
    },
  );
});
