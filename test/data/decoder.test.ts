import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { InlineDecoder, WorkerDecoder } from '../../src/data/decoder.js';
import type { DecodeRequest } from '../../src/data/transforms.js';
import { InputError } from '../../src/util/errors.js';
import { gradientImage, tempDir } from './fixtures.js';

describe('WorkerDecoder', () => {
  it('gives the main thread the same pixels, passes InputError across, and survives a dead worker', async () => {
    const dir = tempDir();
    const path = join(dir, 'g.png');
    await gradientImage(path, 30, 20);
    const req: DecodeRequest = { path, expectedWidth: 30, expectedHeight: 20, minSize: 35, maxSize: 100, flip: true };
    const pool = new WorkerDecoder(2);
    try {
      const [a, b] = await Promise.all([pool.decode(req), new InlineDecoder().decode(req)]);
      expect([a.width, a.height]).toEqual([53, 35]); // 20 -> 35, 30 * 35 / 20 = 52.5 -> 53 (round half up)
      expect(Buffer.from(a.pixels).equals(Buffer.from(b.pixels))).toBe(true);
      // with a normalisation, the worker also sends the normalised, mirrored floats: pixel (x=0, y=0) of the flipped
      // 30x20 gradient is stored pixel (29, 0) = (29, 0, 29): R (29 / 255 - 0.5) / 0.25 = -1.545098
      const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
      const [c, d] = await Promise.all([pool.decode({ ...req, normalise: norm }), new InlineDecoder().decode({ ...req, normalise: norm })]);
      expect(c.input!.floats).toHaveLength(30 * 20 * 3);
      expect(c.input!.floats[0]).toBeCloseTo((29 / 255 - 0.5) / 0.25, 6);
      expect(c.input!.floats[1]).toBeCloseTo(-2, 6);
      expect(Array.from(c.input!.floats)).toEqual(Array.from(d.input!.floats));
      expect(c.input!.normalisation).toEqual(norm);
      expect(Buffer.from(c.pixels).equals(Buffer.from(b.pixels))).toBe(true);
      const err = await pool.decode({ ...req, path: join(dir, 'none.png') }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toBe(`${join(dir, 'none.png')}: image file not found`);
      // stop one worker from outside: the other takes the jobs; stop both: a fresh pool starts
      const workers = (pool as unknown as { workers: { worker: Worker }[] }).workers;
      await workers[0]!.worker.terminate();
      expect((await pool.decode(req)).width).toBe(53);
      await Promise.all(workers.map((w) => w.worker.terminate()));
      expect((await pool.decode(req)).width).toBe(53);
    } finally {
      await pool.close();
    }
    await expect(pool.decode(req)).rejects.toThrow(/after close/);
  });
});
