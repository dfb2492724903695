/**
 * WebGPU in Node: the `webgpu` package (Dawn's `dawn.node`) supplies `navigator.gpu`; tfjs-backend-webgpu then
 * registers the `webgpu` backend. Both are optional dependencies and imported only here, dynamically.
 */

/** What Dawn says about the adapter it found, for the start-of-run line. */
export interface GpuAdapterFacts {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU software renderer (lavapipe/llvmpipe, SwiftShader): works, but slower than wasm. */
  software: boolean;
}

interface AdapterInfoLike {
  isFallbackAdapter?: boolean;
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
}
interface GpuLike {
  requestAdapter(options?: unknown): Promise<{ info?: AdapterInfoLike } | null>;
}
interface WebgpuModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

let installed: Promise<GpuAdapterFacts> | null = null;

/**
 * Installs `navigator.gpu` from Dawn (once per process) and checks that an adapter exists.
 * @throws when the package is absent or no adapter is found (no Vulkan/Metal/D3D12 driver)
 */
export function installWebGpu(): Promise<GpuAdapterFacts> {
  if (installed === null) {
    installed = (async () => {
      const mod = (await import('webgpu' as string)) as WebgpuModule;
      const g = globalThis as Record<string, unknown>;
      const existing = g.navigator as { gpu?: GpuLike } | undefined;
      let gpu = existing?.gpu;
      if (gpu === undefined) {
        Object.assign(globalThis, mod.globals);
        gpu = mod.create([]);
        // Node 21+ defines a read-only navigator; replace the property rather than assigning to it.
        Object.defineProperty(globalThis, 'navigator', {
          value: { ...(existing ?? {}), gpu, userAgent: 'node' },
          configurable: true,
          writable: true,
        });
      }
      const adapter = await gpu.requestAdapter();
      if (adapter === null) throw new Error('no WebGPU adapter (is a Vulkan, Metal or D3D12 driver installed?)');
      const info = adapter.info ?? {};
      await import('@tensorflow/tfjs-backend-webgpu' as string);
      return {
        vendor: info.vendor ?? '',
        architecture: info.architecture ?? '',
        device: info.device ?? '',
        description: info.description ?? '',
        software: info.isFallbackAdapter === true || info.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(`${info.device} ${info.description}`),
      };
    })();
    installed.catch(() => {
      installed = null;
    });
  }
  return installed;
}
