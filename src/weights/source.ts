import { existsSync, statSync } from 'node:fs';
import { InputError } from '../util/errors.js';
import { catalogueEntry, type CatalogueEntry } from './catalogue.js';
import { cachedDownload, type DownloadOptions } from './download.js';

/**
 * What a `--weights` value (or `model.pretrainedBackbone`) names:
 *   torchvision:NAME     weights from the catalogue (downloaded once, verified, cached)
 *   http(s)://...        any URL (cached the same way; verified when its file name carries a hash)
 *   PATH                 a local `.pth` / `.pt` / `.safetensors` state dict, or a psdet checkpoint directory
 */
export type WeightsSpec =
  | { kind: 'torchvision'; entry: CatalogueEntry }
  | { kind: 'url'; url: string }
  | { kind: 'path'; path: string };

/** Parses a weights spec; an unknown torchvision name or a malformed URL is an InputError. */
export function parseWeightsSpec(text: string): WeightsSpec {
  if (text.startsWith('torchvision:')) return { kind: 'torchvision', entry: catalogueEntry(text.slice('torchvision:'.length)) };
  if (/^https?:\/\//i.test(text)) {
    try {
      new URL(text);
    } catch {
      throw new InputError(`${text}: not a valid URL`);
    }
    return { kind: 'url', url: text };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw new InputError(`${text}: only http(s) URLs are fetched`);
  return { kind: 'path', path: text };
}

/** Whether a spec names a psdet checkpoint (a directory) rather than a state dict file. */
export function isCheckpointDirectory(spec: WeightsSpec): boolean {
  return spec.kind === 'path' && existsSync(spec.path) && statSync(spec.path).isDirectory();
}

export interface LocalWeights {
  /** The state dict file on disk. */
  path: string;
  /** For logs: what was asked for and where it came from. */
  label: string;
  /** The catalogue entry, for torchvision:NAME. */
  entry: CatalogueEntry | null;
}

/**
 * The local file a spec names, downloading into the cache when it is a URL or a catalogue name (a cached file is
 * used with no network). A path must exist and be a file.
 */
export async function fetchWeights(spec: WeightsSpec | string, opts: DownloadOptions = {}): Promise<LocalWeights> {
  const s = typeof spec === 'string' ? parseWeightsSpec(spec) : spec;
  if (s.kind === 'path') {
    if (!existsSync(s.path)) throw new InputError(`${s.path}: weights file not found`);
    if (!statSync(s.path).isFile()) throw new InputError(`${s.path}: expected a .pth / .safetensors file, found a directory`);
    return { path: s.path, label: s.path, entry: null };
  }
  const url = s.kind === 'url' ? s.url : s.entry.url;
  const got = await cachedDownload(url, { ...opts, ...(s.kind === 'torchvision' ? { sha256Prefix: s.entry.sha256Prefix } : {}) });
  const name = s.kind === 'torchvision' ? `torchvision:${s.entry.name}` : url;
  return { path: got.path, label: `${name} (${got.downloaded ? 'downloaded to' : 'cached'} ${got.path})`, entry: s.kind === 'torchvision' ? s.entry : null };
}
