import { InputError } from '../util/errors.js';

/**
 * A reader for the zip archives `torch.save` writes (PyTorch >= 1.6): entries found through the central directory
 * (ZIP64 included), each entry's bytes returned as a view into the archive buffer, never copied. torch.save stores
 * every entry uncompressed (method 0) and pads the local headers so that data starts on a 64-byte boundary, so the
 * views can back typed arrays directly. Deflated entries are refused with a clear error rather than inflated:
 * nothing psdet reads needs them, and the reader stays ~100 lines with no dependency.
 */

/** One stored entry of an archive: its name and its bytes (a view into the archive). */
export interface ZipEntry {
  name: string;
  data: Uint8Array;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Whether `bytes` begins like a zip archive (a local file header). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/**
 * The entries of a zip archive by name. A truncated or damaged archive, or a compressed entry, is an InputError
 * naming `file` (and the entry).
 */
export function readZip(bytes: Uint8Array, file: string): Map<string, ZipEntry> {
  const fail = (message: string): never => {
    throw new InputError(`${file}: ${message}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The end-of-central-directory record: 22 bytes plus a comment of up to 65535 bytes, at the very end.
  let eocd = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 0xffff); at--) {
    if (view.getUint32(at, true) === EOCD) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) fail('truncated or not a zip archive (no end-of-central-directory record; was the download or copy cut short?)');
  let count = view.getUint16(eocd + 10, true);
  let dirSize = view.getUint32(eocd + 12, true);
  let dirOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== EOCD64_LOCATOR) fail('damaged zip archive (ZIP64 locator missing)');
    const eocd64 = Number(view.getBigUint64(locator + 8, true));
    if (eocd64 + 56 > bytes.length || view.getUint32(eocd64, true) !== EOCD64) fail('damaged zip archive (ZIP64 record missing)');
    count = Number(view.getBigUint64(eocd64 + 32, true));
    dirSize = Number(view.getBigUint64(eocd64 + 40, true));
    dirOffset = Number(view.getBigUint64(eocd64 + 48, true));
  }
  if (dirOffset + dirSize > bytes.length) fail(`truncated zip archive (central directory at ${dirOffset} runs past the ${bytes.length} bytes)`);
  const entries = new Map<string, ZipEntry>();
  let at = dirOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== CENTRAL) fail(`damaged zip archive (central directory entry ${i} unreadable)`);
    const method = view.getUint16(at + 10, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localOffset = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // ZIP64 extra field (id 1): the 64-bit values of whichever 32-bit fields are saturated, in this order.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = view.getUint16(extra, true);
      const length = view.getUint16(extra + 2, true);
      if (id === 1) {
        let field = extra + 4;
        const next = (): number => {
          const v = Number(view.getBigUint64(field, true));
          field += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localOffset === 0xffffffff) localOffset = next();
      }
      extra += 4 + length;
    }
    at = extraEnd + commentLength;
    if (method !== 0) fail(`entry "${name}" is compressed (method ${method}); only stored entries, as torch.save writes them, are read`);
    if (localOffset + 30 > bytes.length || view.getUint32(localOffset, true) !== LOCAL) fail(`truncated zip archive (entry "${name}" header missing)`);
    const start = localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
    if (start + size > bytes.length) fail(`truncated zip archive (entry "${name}" needs ${start + size} bytes, the file has ${bytes.length})`);
    entries.set(name, { name, data: bytes.subarray(start, start + size) });
  }
  return entries;
}
