/**
 * Kernels the project supplies where a tfjs backend lacks one or computes it wrongly. Each is registered for the
 * named backends only, when that backend is selected, and every one is tested against the cpu kernel or a
 * float64 reference (test/backend/repairs.test.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { addNKernel } from './add-n.js';
import { conv2dBackpropFilterKernel, conv2dBackpropInputKernel } from './conv2d-grads.js';
import { maxPoolGradKernel } from './max-pool-grad.js';
import { padHighRankKernel } from './pad-high-rank.js';
import { splitHighRankKernel, wasmSliceKernel } from './slice-high-rank.js';
import { resizeNearestGradKernel } from './resize-nearest-grad.js';
import { unsortedSegmentSumKernel } from './unsorted-segment-sum.js';

export interface KernelRepair {
  kernelName: string;
  /** Backends that get this kernel. */
  backends: string[];
  /** Why, in one line (printed by `describeRepairs`). */
  reason: string;
  /** The replacement; a partial repair gets the backend's own kernel to hand the cases it computes right. */
  kernelFunc: tf.KernelFunc | ((own: tf.KernelFunc) => tf.KernelFunc);
  /** True when `kernelFunc` wraps the backend's own kernel (which must then exist). */
  wrapsOwn?: boolean;
}

export const REPAIRS: readonly KernelRepair[] = [
  {
    kernelName: 'Conv2DBackpropFilter',
    backends: ['wasm', 'cpu'],
    reason: 'missing on wasm, 0.01 GFLOP/s on cpu: per-tap matrix products',
    kernelFunc: conv2dBackpropFilterKernel,
  },
  {
    kernelName: 'Conv2DBackpropInput',
    backends: ['wasm'],
    reason: 'wasm kernel is a slow loop: forward convs of dy with the flipped filter, one per stride phase',
    kernelFunc: conv2dBackpropInputKernel,
  },
  {
    kernelName: 'MaxPoolGrad',
    backends: ['wasm'],
    reason: 'wasm kernel is wrong for batch > 1 or channels > 1',
    kernelFunc: maxPoolGradKernel,
  },
  {
    kernelName: 'ResizeNearestNeighborGrad',
    backends: ['cpu'],
    reason: 'cpu kernel is wrong for batch > 1',
    kernelFunc: resizeNearestGradKernel,
  },
  {
    kernelName: 'AddN',
    backends: ['webgpu'],
    reason: 'webgpu binds one buffer per input: past the adapter limit the output is left unwritten (zeros)',
    kernelFunc: addNKernel,
    wrapsOwn: true,
  },
  {
    kernelName: 'PadV2',
    backends: ['webgpu'],
    reason: 'webgpu shader for rank-5 pads is invalid WGSL: output left unwritten (the gradient of a rank-5 slice)',
    kernelFunc: padHighRankKernel,
    wrapsOwn: true,
  },
  {
    kernelName: 'Slice',
    backends: ['wasm'],
    reason: 'wasm copies the whole input per slice, and goes element by element above rank 4: row copies in the heap',
    kernelFunc: wasmSliceKernel,
    wrapsOwn: true,
  },
  {
    kernelName: 'SplitV',
    backends: ['wasm'],
    reason: 'wasm splits rank > 4 through the same per-element slice: merged to rank <= 4',
    kernelFunc: splitHighRankKernel,
    wrapsOwn: true,
  },
  {
    kernelName: 'UnsortedSegmentSum',
    backends: ['wasm'],
    reason: 'missing on wasm (the gradient of gather)',
    kernelFunc: unsortedSegmentSumKernel,
  },
];

/** The backend's own kernels that a repair replaced, to put back by `removeRepairs`. */
const replaced = new Map<string, tf.KernelConfig | null>();
const key = (kernelName: string, backendName: string) => `${backendName}/${kernelName}`;

/** The repairs that apply to a backend. */
export function repairsFor(backendName: string): KernelRepair[] {
  return REPAIRS.filter((r) => r.backends.includes(backendName));
}

/**
 * Registers the repairs for a backend (idempotent). Kernels are looked up at each op call, so this takes
 * effect at once for every later op.
 * @returns the kernel names now repaired on that backend
 */
export function installRepairs(backendName: string): string[] {
  const names: string[] = [];
  for (const repair of repairsFor(backendName)) {
    const k = key(repair.kernelName, backendName);
    if (!replaced.has(k)) {
      const own = tf.getKernel(repair.kernelName, backendName);
      if (repair.wrapsOwn && own === undefined) continue;
      replaced.set(k, own ?? null);
      if (own !== undefined) tf.unregisterKernel(repair.kernelName, backendName);
      const kernelFunc = repair.wrapsOwn
        ? (repair.kernelFunc as (own: tf.KernelFunc) => tf.KernelFunc)(own!.kernelFunc)
        : (repair.kernelFunc as tf.KernelFunc);
      tf.registerKernel({ kernelName: repair.kernelName, backendName, kernelFunc });
    }
    names.push(repair.kernelName);
  }
  return names;
}

/** Puts the backend's own kernels back (tests use it to show a kernel wrong before its repair). */
export function removeRepairs(backendName: string): void {
  for (const repair of repairsFor(backendName)) {
    const k = key(repair.kernelName, backendName);
    if (!replaced.has(k)) continue;
    tf.unregisterKernel(repair.kernelName, backendName);
    const own = replaced.get(k);
    if (own) tf.registerKernel(own);
    replaced.delete(k);
  }
}

/** The repairs registered now for a backend. */
export function installedRepairs(backendName: string): string[] {
  return repairsFor(backendName)
    .filter((r) => replaced.has(key(r.kernelName, backendName)))
    .map((r) => r.kernelName);
}
