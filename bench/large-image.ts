/**
 * Large-image benchmark: one 8000 x 8000 JPEG (noise, so that it does not compress to nothing) decoded for an
 * 800 / 1333 network input, at full size (the path every image took before `maxDecodePixels`) and shrunk while
 * decoding (the default for images above 16.8 MP), then made into the network input tensor. Prints time and
 * resident-memory growth of each; each runs in a fresh process so that one's memory does not count in the other.
 *
 *   npm run bench:large-image
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';

const PATH = join(tmpdir(), 'psdet-bench-8000.jpg');
const mode = process.argv[2];

if (mode === 'full' || mode === 'shrink') {
  const [{ decodeImage }, { batchToTensor }, { selectBackend }] = await Promise.all([
    import('../src/data/transforms.js'),
    import('../src/data/tensor.js'),
    import('../src/backend/index.js'),
  ]);
  await selectBackend('wasm');
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const t0 = performance.now();
  const d = await decodeImage({
    path: PATH,
    expectedWidth: 8000,
    expectedHeight: 8000,
    minSize: 800,
    maxSize: 1333,
    flip: false,
    ...(mode === 'full' ? { maxDecodePixels: Infinity } : {}),
  });
  const decoded = performance.now();
  const sample = { ...d, imageId: 1, scaleX: 0.1, scaleY: 0.1, boxes: new Float32Array(0), labels: new Int32Array(0), crowdBoxes: new Float32Array(0) };
  const t = batchToTensor({ samples: [sample], paddedHeight: 800, paddedWidth: 800 }, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
  await t.data();
  const done = performance.now();
  t.dispose();
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  console.log(JSON.stringify({ decodeS: (decoded - t0) / 1000, totalS: (done - t0) / 1000, peakMiB: (peak - rss0) / 2 ** 20, decoded: `${d.decodedWidth}x${d.decodedHeight}` }));
} else {
  if (!existsSync(PATH)) {
    await sharp({ create: { width: 8000, height: 8000, channels: 3, background: { r: 0, g: 0, b: 0 }, noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg({ quality: 90 }).toFile(PATH);
  }
  console.log('psdet bench:large-image, one 8000 x 8000 JPEG -> 800 x 800 network input (wasm backend)');
  const rows: string[] = [];
  const results: Record<string, { decodeS: number; totalS: number; peakMiB: number; decoded: string }> = {};
  for (const m of ['full', 'shrink']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, m], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${m}: ${r.stderr}`);
    results[m] = JSON.parse(r.stdout.trim().split('\n').pop()!);
    const x = results[m]!;
    rows.push(`| ${m === 'full' ? 'full-size decode + tensor resize' : 'shrink on decode (default)'} | ${x.decoded} | ${x.decodeS.toFixed(2)} | ${x.totalS.toFixed(2)} | ${x.peakMiB.toFixed(0)} |`);
  }
  console.log('| path | decoded | decode (s) | decode + input tensor (s) | peak RSS growth (MiB) |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
  console.log(`ratio full / shrink: time ${(results.full!.totalS / results.shrink!.totalS).toFixed(1)}x, memory ${(results.full!.peakMiB / results.shrink!.peakMiB).toFixed(1)}x`);
}
