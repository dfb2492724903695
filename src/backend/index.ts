import * as tf from '@tensorflow/tfjs-core';
import type { BackendChoice } from '../config/types.js';

/** The backend a run got, as printed at start and written beside the run. */
export interface BackendInfo {
  name: string;
  /** What it runs on, in words: "pure JavaScript", "WebAssembly (XNNPACK, SIMD)", "CUDA GPU", ... */
  device: string;
}

const DEVICE: Record<string, string> = {
  tensorflow: 'libtensorflow (CPU or CUDA GPU)',
  wasm: 'WebAssembly (XNNPACK)',
  cpu: 'pure JavaScript',
};

/**
 * Activates the backend asked for. `auto` prefers tfjs-node-gpu / tfjs-node, then wasm, then cpu.
 * A backend that is asked for by name and is not installed is an error saying how to install it.
 */
export async function selectBackend(choice: BackendChoice): Promise<BackendInfo> {
  const order: BackendChoice[] = choice === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [choice];
  const failures: string[] = [];
  for (const name of order) {
    try {
      await loadBackend(name);
      if (await tf.setBackend(name)) {
        await tf.ready();
        return { name, device: DEVICE[name] ?? name };
      }
      failures.push(`${name}: could not be initialised`);
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no usable tfjs backend (${failures.join('; ')})`);
}

async function loadBackend(name: BackendChoice): Promise<void> {
  switch (name) {
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      return;
    case 'wasm':
      await import('@tensorflow/tfjs-backend-wasm');
      return;
    case 'tensorflow':
      try {
        await import('@tensorflow/tfjs-node-gpu' as string);
      } catch {
        await import('@tensorflow/tfjs-node' as string);
      }
      return;
    default:
      throw new Error(`backend "${name}" is not supported yet`);
  }
}
