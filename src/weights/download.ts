import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../util/errors.js';

/**
 * Downloads into a cache, the way torchvision's `load_state_dict_from_url` does: once, verified, then read from the
 * cache with no network. Specifically:
 * - the cache is `$PSDET_CACHE`, else `~/.cache/psdet`; a URL's file goes to `<cache>/<host>/<file name>`;
 * - bytes go to `<file>.part` and resume from there with an HTTP Range request after an interruption;
 * - the finished file is checked against the sha256 prefix in its name (`resnet50-0676ba61.pth`: the first 8 hex
 *   digits), and a mismatch removes it; only then is it renamed into place (with a `<file>.sha256` note), so the
 *   cache never holds a bad file; a file put into the cache by hand (no note) is hashed once before first use;
 * - a `<file>.lock` (with the pid) keeps two processes from writing the same file;
 * - a network failure is one line naming the URL and where to put the file by hand.
 * Node's built-in fetch does the HTTP; nothing here needs a dependency.
 */

/** The cache root: $PSDET_CACHE, else ~/.cache/psdet. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const set = env.PSDET_CACHE;
  return set !== undefined && set !== '' ? set : join(homedir(), '.cache', 'psdet');
}

/** Where `url` is cached under `root`. */
export function cachePath(url: string, root = cacheRoot()): string {
  const u = new URL(url);
  const name = basename(decodeURIComponent(u.pathname)) || 'download';
  return join(root, u.host.replace(/[^A-Za-z0-9.-]/g, '_'), name.replace(/[^A-Za-z0-9._-]/g, '_'));
}

/** The sha256 prefix torchvision puts in a file name (`name-<hex>.ext`), or null when the name carries none. */
export function hashPrefixOf(fileName: string): string | null {
  const m = /-([0-9a-f]{8,64})\.[A-Za-z0-9]+$/.exec(fileName);
  return m === null ? null : m[1]!;
}

export interface DownloadOptions {
  /** Cache root (default cacheRoot()). */
  cacheDir?: string;
  /** Expected sha256 prefix; default: the one in the URL's file name, if any. */
  sha256Prefix?: string | null;
  /** Called as bytes arrive: received so far (resumed bytes included) and the total when the server says. */
  onProgress?: (received: number, total: number | null) => void;
  /** Give up when no byte arrives for this long (default 60 s). */
  stallTimeoutMs?: number;
}

export interface Downloaded {
  path: string;
  /** False when the file was already in the cache (no request made). */
  downloaded: boolean;
}

/** Progress as log lines, one per tenth of the file: `downloading LABEL: 9.8 / 97.8 MB`. */
export function logProgress(label: string, log: (line: string) => void): DownloadOptions {
  let decile = -1;
  return {
    onProgress: (received, total) => {
      const d = total === null ? Math.floor(received / 2 ** 24) : Math.floor((10 * received) / total);
      const mb = (n: number): string => (n / 2 ** 20).toFixed(1);
      if (d !== decile) log(`downloading ${label}: ${mb(received)}${total === null ? '' : ` / ${mb(total)}`} MB`);
      decile = d;
    },
  };
}

/** The file for `url`: from the cache, else downloaded, verified and cached. */
export async function cachedDownload(url: string, opts: DownloadOptions = {}): Promise<Downloaded> {
  const path = cachePath(url, opts.cacheDir ?? cacheRoot());
  const expected = opts.sha256Prefix === undefined ? hashPrefixOf(basename(path)) : opts.sha256Prefix;
  if (existsSync(path)) {
    await checkPlacedByHand(path, expected);
    return { path, downloaded: false };
  }
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (err) {
    throw new InputError(`${dirname(path)}: cannot create the weights cache (${code(err)}); set PSDET_CACHE to a writable directory`);
  }
  const release = lock(`${path}.lock`);
  try {
    if (existsSync(path)) return { path, downloaded: false };
    const part = `${path}.part`;
    await fetchTo(url, part, path, opts);
    if (expected !== null) {
      const actual = await sha256File(part);
      if (!actual.startsWith(expected)) {
        rmSync(part, { force: true });
        throw new InputError(
          `${url}: downloaded file's sha256 ${actual.slice(0, 16)}... does not start with ${expected} as its name says; removed it (run again to download afresh)`,
        );
      }
    }
    renameSync(part, path);
    if (expected !== null) writeFileSync(`${path}.sha256`, `${expected}\n`);
    return { path, downloaded: true };
  } finally {
    release();
  }
}

/**
 * A cached file without its `.sha256` note was put there by hand (as the offline message suggests): it is hashed
 * once, and refused if it is not the file its name promises; a good one gets the note, so later runs skip the hash.
 */
async function checkPlacedByHand(path: string, expected: string | null): Promise<void> {
  const note = `${path}.sha256`;
  if (expected === null || existsSync(note)) return;
  const actual = await sha256File(path);
  if (!actual.startsWith(expected)) {
    throw new InputError(`${path}: sha256 ${actual.slice(0, 16)}... does not start with ${expected} as its name says; replace it with the right file or delete it`);
  }
  try {
    writeFileSync(note, `${expected}\n`);
  } catch {
    // a read-only cache still works; the file is hashed again next time
  }
}

function code(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  return e.cause?.code ?? e.code ?? e.cause?.message ?? e.message ?? String(err);
}

/** An exclusive lock file holding our pid; a lock whose process is gone is taken over. Returns the release. */
function lock(file: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new InputError(`${file}: cannot create lock (${code(err)})`);
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new InputError(`${file}: process ${pid} is downloading this file; wait for it, or remove the lock if it is gone`);
      }
      rmSync(file, { force: true });
    }
  }
  throw new InputError(`${file}: cannot take the download lock`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Streams `url` into `part`, resuming from its current length when the server honours Range. */
async function fetchTo(url: string, part: string, final: string, opts: DownloadOptions): Promise<void> {
  const offline = (why: string): InputError =>
    new InputError(
      `${url}: download failed (${why}); offline or behind a proxy? Fetch the file another way and put it at ${final}, or pass its path to --weights`,
    );
  const have = existsSync(part) ? statSync(part).size : 0;
  const controller = new AbortController();
  const stall = opts.stallTimeoutMs ?? 60_000;
  let timer = setTimeout(() => controller.abort(), stall);
  let response: Response;
  try {
    response = await fetch(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {}, signal: controller.signal, redirect: 'follow' });
  } catch (err) {
    clearTimeout(timer);
    throw offline(controller.signal.aborted ? `no response in ${stall / 1000} s` : code(err));
  }
  if (response.status === 416 && have > 0) {
    // The part is already whole (a run stopped between the last byte and the rename): verify it as it is.
    clearTimeout(timer);
    await response.body?.cancel();
    return;
  }
  if (response.status !== 200 && response.status !== 206) {
    clearTimeout(timer);
    throw offline(`HTTP ${response.status} ${response.statusText}`.trim());
  }
  const resumed = response.status === 206 ? have : 0;
  const length = Number(response.headers.get('content-length'));
  const total = Number.isFinite(length) && length > 0 ? resumed + length : null;
  let fd: number;
  try {
    fd = openSync(part, resumed > 0 ? 'a' : 'w');
  } catch (err) {
    clearTimeout(timer);
    throw new InputError(`${part}: cannot write (${code(err)})`);
  }
  let received = resumed;
  try {
    if (response.body === null) throw offline('empty response');
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), stall);
      try {
        writeSync(fd, chunk);
      } catch (err) {
        throw new InputError(`${part}: cannot write (${code(err)}); the partial download is kept and resumes on the next run`);
      }
      received += chunk.length;
      opts.onProgress?.(received, total);
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw offline(`${controller.signal.aborted ? `stalled for ${stall / 1000} s` : code(err)} after ${received} bytes; the next run resumes`);
  } finally {
    clearTimeout(timer);
    closeSync(fd);
  }
  if (total !== null && received !== total) throw offline(`got ${received} of ${total} bytes; the next run resumes`);
}

/** sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
