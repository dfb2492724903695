import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { describeBackend, readFloat32, readScalar, selectBackend } from '../../src/backend/index.js';

afterAll(async () => {
  await selectBackend('cpu');
});

describe('selectBackend', () => {
  it('cpu: pure JavaScript, with the cpu repairs, and gradients registered', async () => {
    const info = await selectBackend('cpu');
    expect(info.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(info.device).toMatch(/pure JavaScript/);
    expect(info.repairs).toEqual(['Conv2DBackpropFilter', 'ResizeNearestNeighborGrad']);
    expect(tf.getGradient('Conv2D')?.kernelName).toBe('Conv2D');
    expect(describeBackend(info)).toBe(`backend cpu on ${info.device}; project kernels: Conv2DBackpropFilter, ResizeNearestNeighborGrad`);
  });

  it('wasm: names WebAssembly, SIMD and the thread count', async () => {
    const info = await selectBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.device).toMatch(/^WebAssembly \(XNNPACK, (no )?SIMD, \d+ threads?\)/);
  });

  it('a backend asked for by name that is not installed is an error saying how to install it', async () => {
    // tfjs-node(-gpu) made uninstallable for this test, so it shows the error on machines that have them too
    const missing = (name: string) => () => {
      throw new Error(`Cannot find package '${name}'`);
    };
    vi.doMock('@tensorflow/tfjs-node-gpu', missing('@tensorflow/tfjs-node-gpu'));
    vi.doMock('@tensorflow/tfjs-node', missing('@tensorflow/tfjs-node'));
    try {
      await expect(selectBackend('tensorflow')).rejects.toThrow(
        /^backend "tensorflow" is not usable \(.*\); to install: npm install @tensorflow\/tfjs-node-gpu .* or @tensorflow\/tfjs-node; see docs\/gpu\.md$/,
      );
      expect(tf.getBackend()).toBe('wasm'); // the active backend is left as it was
    } finally {
      vi.doUnmock('@tensorflow/tfjs-node-gpu');
      vi.doUnmock('@tensorflow/tfjs-node');
    }
  });

  it('auto reports what it passed over and lands on a usable backend', async () => {
    const info = await selectBackend('auto');
    expect(['tensorflow', 'webgpu', 'wasm', 'cpu']).toContain(info.name);
    expect(tf.getBackend()).toBe(info.name);
    if (info.name !== 'tensorflow') expect(info.skipped[0]).toMatch(/^tensorflow: /);
    // a CPU software WebGPU adapter is never chosen by auto
    expect(info.device).not.toMatch(/software renderer/);
  });
});

describe('readFloat32', () => {
  it('reads float32 and int32 tensors as Float32Array, scalars as numbers', async () => {
    await selectBackend('cpu');
    const a = tf.tensor1d([1.5, -2]);
    const b = tf.tensor1d([3, 4], 'int32');
    expect(await readFloat32(a)).toEqual(Float32Array.from([1.5, -2]));
    expect(await readFloat32(b)).toEqual(Float32Array.from([3, 4]));
    expect(await readScalar(tf.scalar(7))).toBe(7);
    tf.dispose([a, b]);
  });
});
