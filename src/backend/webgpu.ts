/**
 * WebGPU in Node: the `webgpu` package (Dawn's `dawn.node`) supplies `navigator.gpu`; tfjs-backend-webgpu then
 * registers the `webgpu` backend. Both are optional dependencies and imported only here, dynamically.
 *
 * Dawn, the Vulkan loader and the drivers write their warnings straight to file descriptor 2 from native code
 * ("XDG_RUNTIME_DIR is invalid", "Vulkan shaderUniform*ArrayDynamicIndexing required", "... artificially reduced"):
 * nothing in JavaScript can catch or silence those. So the adapter is first looked for in a child process
 * (`probeWebGpu`), whose stderr is captured and handed back as `driverMessages`; Dawn is loaded into this process
 * only when the probe found an adapter that is going to be used.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** What Dawn says about the adapter it found, for the start-of-run line. */
export interface GpuAdapterFacts {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU software renderer (lavapipe/llvmpipe, SwiftShader): works, but slower than wasm. */
  software: boolean;
}

/** What the child-process probe found. */
export interface WebGpuProbe {
  /** The adapter Dawn offers, or null when there is none (or the probe failed: see `why`). */
  adapter: GpuAdapterFacts | null;
  /** Why there is no adapter, in words (null when there is one). */
  why: string | null;
  /** What Dawn, the Vulkan loader and the drivers wrote to stderr meanwhile (shown with --verbose only). */
  driverMessages: string[];
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

/** Adapter facts from what `requestAdapter` returned. */
export function adapterFacts(info: AdapterInfoLike): GpuAdapterFacts {
  return {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
    software:
      info.isFallbackAdapter === true ||
      info.architecture === 'software' ||
      /llvmpipe|lavapipe|swiftshader/i.test(`${info.device ?? ''} ${info.description ?? ''}`),
  };
}

/**
 * The child's program: load Dawn, ask for an adapter, print its info as one JSON line on stdout, exit (a live
 * `navigator.gpu` would keep the process running).
 */
function probeProgram(moduleUrl: string): string {
  return [
    `const { create } = await import(${JSON.stringify(moduleUrl)});`,
    'const adapter = await create([]).requestAdapter();',
    'const i = adapter === null ? null : adapter.info ?? {};',
    'const info = i === null ? null : { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: i.isFallbackAdapter };',
    "process.stdout.write(JSON.stringify({ info }) + '\\n', () => process.exit(0));",
  ].join('\n');
}

/** Where the `webgpu` package's entry is, as a file URL; null when it is not installed. */
function webgpuModuleUrl(): string | null {
  try {
    return pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
  } catch {
    return null;
  }
}

/**
 * Looks for a WebGPU adapter in a child Node process, so that the driver messages printed on the way stay out of
 * this process's stderr. Never throws: a missing package, a crash or a timeout come back as `why`.
 * @param timeoutMs the probe is killed after this long (a hung driver)
 */
export function probeWebGpu(timeoutMs = 30_000): Promise<WebGpuProbe> {
  const url = webgpuModuleUrl();
  if (url === null) return Promise.resolve({ adapter: null, why: 'the webgpu package is not installed', driverMessages: [] });
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', probeProgram(url)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const finish = (why: string | null, info: AdapterInfoLike | null): void => {
      clearTimeout(timer);
      const driverMessages = stderr.split('\n').filter((l) => l.trim() !== '');
      resolve({ adapter: info === null ? null : adapterFacts(info), why: info === null ? why : null, driverMessages });
    };
    child.on('error', (err) => finish(`the probe process did not start (${err.message})`, null));
    child.on('close', (code, signal) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      let parsed: { info?: AdapterInfoLike | null } | null = null;
      try {
        parsed = JSON.parse(line) as { info?: AdapterInfoLike | null };
      } catch {
        parsed = null;
      }
      if (parsed !== null && parsed.info !== undefined && parsed.info !== null) return finish(null, parsed.info);
      if (parsed !== null) return finish('no WebGPU adapter: Dawn found no Vulkan, Metal or D3D12 device it can use', null);
      if (signal === 'SIGKILL') return finish(`the adapter probe did not answer within ${timeoutMs / 1000} s`, null);
      return finish(`the adapter probe failed (${signal ?? `exit code ${code}`})`, null);
    });
  });
}

let installed: Promise<GpuAdapterFacts> | null = null;

/**
 * Installs `navigator.gpu` from Dawn in this process (once) and checks that an adapter exists. Dawn's own
 * messages for the adapter it opens go to stderr here: call it after `probeWebGpu` said the adapter is wanted.
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
      await import('@tensorflow/tfjs-backend-webgpu' as string);
      return adapterFacts(adapter.info ?? {});
    })();
    installed.catch(() => {
      installed = null;
    });
  }
  return installed;
}

/** True once `installWebGpu` has put Dawn into this process (a second probe would tell nothing new). */
export function webGpuInstalled(): boolean {
  return installed !== null || (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu !== undefined;
}
