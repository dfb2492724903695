import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cachedDownload, cachePath, cacheRoot, hashPrefixOf } from '../../src/weights/download.js';
import { fetchWeights } from '../../src/weights/source.js';
import { readWeightsFile } from '../../src/weights/state-dict.js';
import { PTH_DIR, PTH_SKIP, pthFixtures, type PthManifest } from './pth-fixture.js';

describe('cache locations', () => {
  it('$PSDET_CACHE, else ~/.cache/psdet; a URL goes to <cache>/<host>/<file>', () => {
    expect(cacheRoot({ PSDET_CACHE: '/x/cache' })).toBe('/x/cache');
    expect(cacheRoot({ HOME: '/home/u' })).toMatch(/\.cache\/psdet$/);
    expect(cachePath('https://download.pytorch.org/models/resnet50-0676ba61.pth', '/c')).toBe('/c/download.pytorch.org/resnet50-0676ba61.pth');
    expect(hashPrefixOf('resnet50-0676ba61.pth')).toBe('0676ba61');
    expect(hashPrefixOf('weights.pth')).toBeNull();
  });
});

/** A bounded local server: serves `files` by path, honours Range, counts requests; closed after the tests. */
interface TestServer {
  url: string;
  requests: { path: string; range: string | undefined }[];
  files: Map<string, Buffer>;
  close(): Promise<void>;
}

async function startServer(): Promise<TestServer> {
  const files = new Map<string, Buffer>();
  const requests: TestServer['requests'] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    requests.push({ path: req.url ?? '', range: req.headers.range });
    const body = files.get(req.url ?? '');
    if (body === undefined) {
      res.writeHead(404).end('not found');
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m !== null) {
      const from = Number(m[1]);
      if (from >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, { 'content-length': body.length - from, 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` }).end(body.subarray(from));
      return;
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  server.maxConnections = 8;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    files,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe.skipIf(PTH_SKIP !== '')(`downloads from a local HTTP server ${PTH_SKIP}`, () => {
  let server: TestServer;
  let manifest: PthManifest;
  let body: Buffer;
  let cache: string;
  let name: string;

  beforeAll(async () => {
    manifest = pthFixtures();
    body = readFileSync(join(PTH_DIR, 'mixed.pth'));
    // The name carries the sha256 prefix as Python's hashlib computed it, as torchvision's file names do.
    name = `mixed-${manifest.sha256.mixed!.slice(0, 8)}.pth`;
    server = await startServer();
    server.files.set(`/models/${name}`, body);
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    cache = mkdtempSync(join(tmpdir(), 'psdet-cache-'));
    server.requests.length = 0;
  });

  it('the first run downloads and verifies; the second makes no request', async () => {
    const url = `${server.url}/models/${name}`;
    const progress: number[] = [];
    const first = await cachedDownload(url, { cacheDir: cache, onProgress: (received) => progress.push(received) });
    expect(first.downloaded).toBe(true);
    expect(first.path).toBe(join(cache, new URL(server.url).host.replace(':', '_'), name));
    expect(Buffer.compare(readFileSync(first.path), body)).toBe(0);
    expect(progress[progress.length - 1]).toBe(body.length);
    expect(server.requests).toHaveLength(1);
    const second = await fetchWeights(url, { cacheDir: cache });
    expect(second.path).toBe(first.path);
    expect(second.label).toContain('cached');
    expect(server.requests).toHaveLength(1);
    // and the cached file is the checkpoint
    expect(readWeightsFile(second.path).tensors.get('f32')!.shape).toEqual([3, 4]);
    expect(readdirSync(join(cache, new URL(server.url).host.replace(':', '_'))).sort()).toEqual([name, `${name}.sha256`]);
    rmSync(cache, { recursive: true });
  });

  it('resumes a partial download with a Range request', async () => {
    const url = `${server.url}/models/${name}`;
    const target = cachePath(url, cache);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(target, '..'), { recursive: true });
    writeFileSync(`${target}.part`, body.subarray(0, 1000));
    const got = await cachedDownload(url, { cacheDir: cache });
    expect(server.requests).toEqual([{ path: `/models/${name}`, range: 'bytes=1000-' }]);
    expect(Buffer.compare(readFileSync(got.path), body)).toBe(0);
    rmSync(cache, { recursive: true });
  });

  it('a part that is already whole (stopped before the rename) is verified and moved into place', async () => {
    const url = `${server.url}/models/${name}`;
    const target = cachePath(url, cache);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(target, '..'), { recursive: true });
    writeFileSync(`${target}.part`, body);
    const got = await cachedDownload(url, { cacheDir: cache });
    expect(server.requests).toEqual([{ path: `/models/${name}`, range: `bytes=${body.length}-` }]);
    expect(Buffer.compare(readFileSync(got.path), body)).toBe(0);
    rmSync(cache, { recursive: true });
  });

  it('a file put into the cache by hand is hashed once: the right one is used, a wrong one refused', async () => {
    const url = `${server.url}/models/${name}`;
    const target = cachePath(url, cache);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(target, '..'), { recursive: true });
    writeFileSync(target, Buffer.concat([body, Buffer.from([0])]));
    const wrong = (await cachedDownload(url, { cacheDir: cache }).catch((e: Error) => e)) as Error;
    expect(wrong.message).toMatch(/sha256 [0-9a-f]{16}\.\.\. does not start with [0-9a-f]{8} as its name says; replace it with the right file or delete it$/);
    writeFileSync(target, body);
    expect((await cachedDownload(url, { cacheDir: cache })).downloaded).toBe(false);
    expect(existsSync(`${target}.sha256`)).toBe(true);
    expect(server.requests).toEqual([]);
    rmSync(cache, { recursive: true });
  });

  it('a corrupted download is detected, removed, and reported in one line', async () => {
    const corrupt = Buffer.from(body);
    corrupt[corrupt.length >> 1]! ^= 0xff;
    server.files.set(`/bad/${name}`, corrupt);
    const url = `${server.url}/bad/${name}`;
    const error = await cachedDownload(url, { cacheDir: cache }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(new RegExp(`^${url.replace(/[.?*+^$()|[\]\\]/g, '\\$&')}: downloaded file's sha256 [0-9a-f]{16}\\.\\.\\. does not start with ${name.slice(6, 14)} as its name says; removed it`));
    expect((error as Error).message).not.toContain('\n');
    const dir = join(cachePath(url, cache), '..');
    expect(readdirSync(dir)).toEqual([]);
    rmSync(cache, { recursive: true });
  });

  it('an unreachable URL or an HTTP error names the URL and where to put the file by hand', async () => {
    const closed = await startServer();
    const deadUrl = `${closed.url}/models/${name}`;
    await closed.close();
    const offline = (await cachedDownload(deadUrl, { cacheDir: cache }).catch((e: Error) => e)) as Error;
    expect(offline.message).toContain(`${deadUrl}: download failed (ECONNREFUSED); offline or behind a proxy? Fetch the file another way and put it at ${cachePath(deadUrl, cache)}`);
    const missing = (await cachedDownload(`${server.url}/models/absent-0123abcd.pth`, { cacheDir: cache }).catch((e: Error) => e)) as Error;
    expect(missing.message).toMatch(/absent-0123abcd\.pth: download failed \(HTTP 404 Not Found\)/);
    expect(existsSync(cachePath(deadUrl, cache))).toBe(false);
    rmSync(cache, { recursive: true });
  });
});
