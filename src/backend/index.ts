import * as tf from '@tensorflow/tfjs-core';
import { cpus } from 'node:os';
import type { BackendChoice } from '../config/types.js';
import { registerGradients } from './gradients.js';
import { installRepairs } from './repairs/index.js';
import { installWebGpu, probeWebGpu, webGpuInstalled } from './webgpu.js';

export { registerGradients } from './gradients.js';
export { installRepairs, removeRepairs, installedRepairs, repairsFor, REPAIRS, type KernelRepair } from './repairs/index.js';
export { readFloat32, readScalar, canReadSync } from './read.js';

/** The backend a run got, as printed at start and written beside the run. */
export interface BackendInfo {
  /** tfjs backend name: `tensorflow`, `webgpu`, `wasm` or `cpu`. */
  name: string;
  /** What it runs on, in words: "pure JavaScript", "WebAssembly (XNNPACK, SIMD, 1 thread)", "CUDA GPU", ... */
  device: string;
  /** Kernels the project registered for this backend (see src/backend/repairs). */
  repairs: string[];
  /** Backends tried before this one under `auto`, each with why it was passed over. */
  skipped: string[];
  /**
   * What GPU drivers wrote to stderr while the backends were probed (Dawn, the Vulkan loader): kept out of the
   * output, for a CLI to show with --verbose.
   */
  driverMessages: string[];
}

/** The order `auto` tries. */
export const AUTO_ORDER: readonly Exclude<BackendChoice, 'auto'>[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

const INSTALL_HINT: Record<Exclude<BackendChoice, 'auto'>, string> = {
  tensorflow: 'npm install @tensorflow/tfjs-node-gpu (CUDA 11.2 + cuDNN 8.1) or @tensorflow/tfjs-node; see docs/gpu.md',
  webgpu: 'npm install @tensorflow/tfjs-backend-webgpu webgpu, and a Vulkan/Metal/D3D12 driver; see docs/gpu.md',
  wasm: 'npm install @tensorflow/tfjs-backend-wasm',
  cpu: 'npm install @tensorflow/tfjs-backend-cpu',
};

/**
 * Activates the backend asked for, registers the gradients and the kernel repairs it needs, and says what it
 * got. `auto` prefers tfjs-node-gpu, then tfjs-node, then WebGPU (when a hardware adapter exists: a CPU
 * software renderer such as lavapipe is slower than wasm, so `auto` passes it over), then wasm, then cpu.
 * A backend asked for by name that cannot start is an error saying how to install it.
 */
export async function selectBackend(choice: BackendChoice): Promise<BackendInfo> {
  // Production mode: tfjs's own console advice ("install the node backend ...") stays out of the output; the
  // line describeBackend() prints says what the run got.
  tf.enableProdMode();
  await registerGradients();
  const order = choice === 'auto' ? AUTO_ORDER : [choice];
  const skipped: string[] = [];
  const driverMessages: string[] = [];
  for (const name of order) {
    try {
      const device = await loadBackend(name, choice === 'auto', driverMessages);
      if (!(await tf.setBackend(name))) throw new Error('could not be initialised');
      await tf.ready();
      const repairs = installRepairs(name);
      return { name, device: device(), repairs, skipped, driverMessages };
    } catch (err) {
      const why = whyNotUsable(err);
      if (choice !== 'auto') throw new Error(`backend "${name}" is not usable (${why}); to install: ${INSTALL_HINT[name]}`);
      skipped.push(`${name}: ${why}`);
    }
  }
  throw new Error(`no usable tfjs backend (${skipped.join('; ')})`);
}

/** Why a backend could not start, in one line: a package that is not installed says so, without its paths. */
function whyNotUsable(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') {
    const pkg = /Cannot find (?:package|module) '([^']+)'/.exec(e.message)?.[1];
    return pkg !== undefined ? `${pkg} is not installed` : 'not installed';
  }
  return String(e?.message ?? err).split('\n')[0]!;
}

/**
 * One line for the start of a run: which backend, on what, and why the ones tried first were passed over:
 * `backend wasm on WebAssembly (XNNPACK, SIMD, 1 thread); passed over: tensorflow (not installed), webgpu (...)`.
 */
export function describeBackend(info: BackendInfo): string {
  const repaired = info.repairs.length > 0 ? `; project kernels: ${info.repairs.join(', ')}` : '';
  const passed = info.skipped.length > 0 ? `; passed over: ${info.skipped.map((s) => s.replace(/^(\w+): (.*)$/, '$1 ($2)')).join(', ')}` : '';
  return `backend ${info.name} on ${info.device}${passed}${repaired}`;
}

/**
 * Which of the given backends can start here (each is imported and initialised; the active backend is
 * restored afterwards). Used by the gradient-check suite and the benchmark.
 */
export async function usableBackends(names: readonly Exclude<BackendChoice, 'auto'>[] = AUTO_ORDER): Promise<string[]> {
  const active = tf.getBackend();
  const ok: string[] = [];
  for (const name of names) {
    try {
      await loadBackend(name);
      if (await tf.setBackend(name)) ok.push(name);
    } catch {
      // not installed or no device: not usable
    }
  }
  if (active) await tf.setBackend(active);
  return ok;
}

function softwareAdapter(what: string): string {
  return `adapter is a CPU software renderer (${what}); wasm is faster (ask for --backend webgpu to use it)`;
}

/** Imports a backend's package; returns a function describing the device once the backend is active. */
async function loadBackend(name: Exclude<BackendChoice, 'auto'>, hardwareOnly = false, driverMessages: string[] = []): Promise<() => string> {
  switch (name) {
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      return () => 'pure JavaScript (1 thread)';
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      // Threads are off in Node (tfjs issue 3830); the .wasm files load from node_modules without setWasmPaths.
      return () => {
        const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD' : 'no SIMD';
        const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? `${wasm.getThreadsCount()} threads` : '1 thread';
        return `WebAssembly (XNNPACK, ${simd}, ${threads}) on ${cpus()[0]?.model.trim() ?? 'CPU'}`;
      };
    }
    case 'tensorflow': {
      let gpu = true;
      try {
        await import('@tensorflow/tfjs-node-gpu' as string);
      } catch {
        gpu = false;
        await import('@tensorflow/tfjs-node' as string);
      }
      return () => (gpu ? 'libtensorflow with CUDA (tfjs-node-gpu; GPU if CUDA 11.2 + cuDNN 8.1 load)' : 'libtensorflow on CPU (tfjs-node, oneDNN)');
    }
    case 'webgpu': {
      if (!webGpuInstalled()) {
        // The adapter is looked for in a child process first: the driver messages of that search stay out of
        // this process's stderr, and Dawn is loaded here only for an adapter that is going to be used.
        const probe = await probeWebGpu();
        driverMessages.push(...probe.driverMessages);
        if (probe.adapter === null) throw new Error(probe.why ?? 'no WebGPU adapter');
        if (hardwareOnly && probe.adapter.software) throw new Error(softwareAdapter(probe.adapter.description || probe.adapter.device));
      }
      const facts = await installWebGpu();
      if (hardwareOnly && facts.software) throw new Error(softwareAdapter(facts.description));
      return () => {
        const what = facts.description || [facts.vendor, facts.architecture, facts.device].filter((s) => s !== '').join(' ');
        return `WebGPU (Dawn) adapter ${what || 'unnamed'}${facts.software ? ' (CPU software renderer)' : ''}`;
      };
    }
    default:
      throw new Error(`unknown backend "${String(name)}"`);
  }
}
