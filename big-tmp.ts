import sharp from 'sharp';
import { decodeImage } from './src/data/transforms.js';
const path = '/tmp/psdet-8000.jpg';
await sharp({ create: { width: 8000, height: 8000, channels: 3, noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg({ quality: 90 }).toFile(path);
for (const maxDecodePixels of [Infinity, undefined]) {
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const d = await decodeImage({ path, expectedWidth: 8000, expectedHeight: 8000, minSize: 800, maxSize: 1333, flip: false, maxDecodePixels, normalise: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } });
  console.log(maxDecodePixels, d.decodedWidth, d.decodedHeight, ((performance.now() - t0) / 1000).toFixed(2), 's', ((process.memoryUsage().rss - rss0) / 2 ** 20).toFixed(0), 'MiB rss');
}
