import { createRequire } from 'node:module';
import type * as TfCore from '@tensorflow/tfjs-core';

/**
 * Recognises the wasm backend running out of its heap. WebAssembly (wasm32) memory stops at 4 GiB; when a tensor no
 * longer fits, the tfjs wasm module either aborts (`RuntimeError: Aborted()`, after emscripten prints its glue) or a
 * kernel writes through the null pointer a failed malloc returned (`RuntimeError: memory access out of bounds`).
 * Neither says "out of memory", and both are `WebAssembly.RuntimeError`s thrown while `wasm` is the active backend.
 */

/** The most memory a wasm32 module can address. */
export const WASM_HEAP_LIMIT_BYTES = 4 * 2 ** 30;

const HEAP_MESSAGES = /^Aborted\(|memory access out of bounds|Cannot enlarge memory|out of memory|Array buffer allocation failed|Invalid typed array length/i;

/**
 * True when `err` is the wasm backend failing for want of heap: a WebAssembly RuntimeError (or the RangeError a
 * typed-array view of more than the heap raises) with one of the messages above, while `backend` is `wasm`.
 * @param backend the backend active when the error was thrown (default: tfjs's active backend)
 */
export function isWasmHeapExhausted(err: unknown, backend?: string | null): boolean {
  if (!(err instanceof Error)) return false;
  // WebAssembly.RuntimeError (not in this project's TypeScript lib) names itself 'RuntimeError'.
  const wasmError = err.name === 'RuntimeError';
  const viewError = err instanceof RangeError && /Invalid typed array length|Array buffer allocation failed/.test(err.message);
  if (!((wasmError || viewError) && HEAP_MESSAGES.test(err.message))) return false;
  return (backend === undefined ? activeBackend() : backend) === 'wasm';
}

/** Bytes of wasm memory the active wasm backend holds now; null when wasm is not active. */
export function wasmHeapBytes(): number | null {
  if (activeBackend() !== 'wasm') return null;
  const module = (loadedTfjs()!.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm;
  return module?.HEAPU8?.buffer.byteLength ?? null;
}

/** One line for a run that ran out of wasm heap: the limit, and what to change. */
export function wasmHeapMessage(heapBytes: number | null = wasmHeapBytes()): string {
  const held = heapBytes !== null && heapBytes >= 2 ** 30 ? ` (${(heapBytes / 2 ** 30).toFixed(1)} GiB held when it failed)` : '';
  return (
    `the wasm backend ran out of memory: WebAssembly's heap stops at 4 GiB${held}; ` +
    'use a smaller input (input.trainMinSizes, input.testMinSize, input.maxSize) or batch size, ' +
    'or a GPU backend (--backend tensorflow or webgpu; docs/gpu.md)'
  );
}

/** The active backend's name; null when tfjs is not loaded or has no backend yet. */
function activeBackend(): string | null {
  return loadedTfjs()?.engine().backendName ?? null;
}

/**
 * tfjs-core as already loaded by the command (Node shares one instance between `import` and `require` of it), read
 * only once an error has the shape of a heap failure: a command that never loaded tfjs does not load it here.
 */
function loadedTfjs(): typeof TfCore | null {
  const require = createRequire(import.meta.url);
  const id = require.resolve('@tensorflow/tfjs-core');
  return require.cache[id] !== undefined ? (require(id) as typeof TfCore) : null;
}
