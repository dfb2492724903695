import { readFileSync } from 'node:fs';
import { InputError } from '../util/errors.js';
import { looksLikeTorchCheckpoint, parseTorchCheckpoint, type RawStateDict } from './pth.js';
import { decodeElements, parseSafetensors, type SafetensorsFile, type StoredTensor } from './safetensors.js';

/**
 * A state dict file of either kind psdet reads — a PyTorch checkpoint (`.pth` / `.pt`, either torch.save format)
 * or safetensors — told apart by content, not by name.
 */

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new InputError(`${path}: cannot read weights file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** The tensors of a PyTorch checkpoint file in their saved element types (see pth.ts). */
export function readTorchCheckpoint(path: string): RawStateDict {
  return parseTorchCheckpoint(readBytes(path), path);
}

/** A PyTorch state dict decoded as the loaders take it: float types as Float32Array, integer types as Int32Array. */
export function decodeStateDict(raw: RawStateDict): SafetensorsFile {
  const tensors = new Map<string, StoredTensor>();
  for (const [name, t] of raw.tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    const values = decodeElements(t.data, t.dtype, count, (m) => {
      throw new InputError(`${raw.file}: tensor "${name}": ${m}`);
    });
    tensors.set(name, { dtype: t.dtype, shape: t.shape, values });
  }
  return { tensors, metadata: raw.nestedUnder === null ? {} : { nestedUnder: raw.nestedUnder } };
}

/** Reads a `.pth` / `.pt` or `.safetensors` state dict, whichever the bytes are. */
export function readWeightsFile(path: string): SafetensorsFile {
  const bytes = readBytes(path);
  if (looksLikeTorchCheckpoint(bytes)) return decodeStateDict(parseTorchCheckpoint(bytes, path));
  return parseSafetensors(bytes, path);
}
