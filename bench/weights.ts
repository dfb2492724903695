/**
 * Loading a ResNet-50 checkpoint (`.pth`, torchvision's resnet50 state dict, ~98 MB, written by torch.save) into a
 * model: psdet (read the file, parse the zip and pickle, decode, transpose OIHW -> HWIO, assign the backbone's
 * variables) beside PyTorch (`torch.load` + `load_state_dict`) in the same run, on the same file. Every load runs in
 * a fresh process (the model built first, untimed), so each peak RSS is one load's; the sides alternate, N each.
 *
 *   npm run bench:weights [-- --repeats 3] [--backend wasm|cpu]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const PYTHON = process.env.PSDET_PYTHON ?? '/usr/bin/python3';
const PEER = join(ROOT, 'bench', 'weights_peer.py');

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

interface Measured {
  seconds: number[];
  baselineMiB: number;
  peakMiB: number;
  phases?: Record<string, number>;
}

function rssMiB(): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m === null ? process.memoryUsage().rss / 2 ** 20 : Number(m[1]) / 1024;
}

/** The psdet side, in a child process: `bench/weights.ts --child PATH`. */
async function child(path: string, repeats: number, backend: 'wasm' | 'cpu'): Promise<void> {
  const { selectBackend } = await import('../src/backend/index.js');
  const { buildBackbone } = await import('../src/model/build.js');
  const { defaultConfig } = await import('../src/config/defaults.js');
  const { Rng } = await import('../src/util/rng.js');
  const { readFileSync: read } = await import('node:fs');
  const { parseTorchCheckpoint } = await import('../src/weights/pth.js');
  const { decodeStateDict } = await import('../src/weights/state-dict.js');
  const { loadTorchvisionWeights } = await import('../src/weights/torchvision.js');
  await selectBackend(backend);
  const model = buildBackbone({ ...defaultConfig().model, depth: 50, widthMultiplier: 1 }, new Rng(0));
  const baseline = rssMiB();
  const seconds: number[] = [];
  const phases = { read: 0, parse: 0, decode: 0, assign: 0 };
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    const bytes = read(path);
    const t1 = performance.now();
    const raw = parseTorchCheckpoint(bytes, path);
    const t2 = performance.now();
    const weights = decodeStateDict(raw);
    const t3 = performance.now();
    loadTorchvisionWeights(model, weights, 'resnet', { file: path });
    const t4 = performance.now();
    seconds.push((t4 - t0) / 1000);
    if (r === repeats - 1) Object.assign(phases, { read: (t1 - t0) / 1000, parse: (t2 - t1) / 1000, decode: (t3 - t2) / 1000, assign: (t4 - t3) / 1000 });
  }
  const peak = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify({ seconds, baselineMiB: baseline, peakMiB: peak, phases })}\n`);
  model.dispose();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function lastJson(stdout: string, who: string): Measured {
  const line = stdout.trim().split('\n').pop();
  if (line === undefined || !line.startsWith('{')) throw new Error(`${who}: no result (${stdout.slice(-500)})`);
  return JSON.parse(line) as Measured;
}

async function main(): Promise<void> {
  const repeats = Number(flag('--repeats', '3'));
  const backend = flag('--backend', 'wasm') as 'wasm' | 'cpu';
  if (process.argv.includes('--child')) {
    await child(flag('--child', ''), repeats, backend);
    return;
  }
  const dir = join(ROOT, '.bench', 'weights');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'resnet50.pth');
  if (!existsSync(path)) {
    const w = spawnSync(PYTHON, [PEER, '--write', path], { stdio: 'inherit' });
    if (w.status !== 0) throw new Error(`${PYTHON} ${PEER} --write failed`);
  }
  const mb = statSync(path).size / 1e6;
  const runs: { ours: Measured[]; peer: Measured[] } = { ours: [], peer: [] };
  for (let r = 0; r < repeats; r++) {
    const ours = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'weights.ts'), '--child', path, '--repeats', '1', '--backend', backend], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    if (ours.status !== 0) throw new Error(`psdet side failed: ${ours.stderr}`);
    runs.ours.push(lastJson(ours.stdout, 'psdet'));
    const peer = spawnSync(PYTHON, [PEER, '--load', path, '--repeats', '1'], { encoding: 'utf8' });
    if (peer.status !== 0) throw new Error(`torch side failed: ${peer.stderr}`);
    runs.peer.push(lastJson(peer.stdout, 'torch'));
  }
  const merge = (ms: Measured[]): Measured => ({
    seconds: ms.map((m) => m.seconds[0]!),
    baselineMiB: median(ms.map((m) => m.baselineMiB)),
    peakMiB: median(ms.map((m) => m.peakMiB)),
    ...(ms[0]!.phases === undefined ? {} : { phases: ms[ms.length - 1]!.phases }),
  });
  const a = merge(runs.ours);
  const b = merge(runs.peer);
  const row = (name: string, m: Measured): string =>
    `${name.padEnd(34)} ${m.seconds[0]!.toFixed(3).padStart(8)} ${median(m.seconds).toFixed(3).padStart(10)} ` +
    `${m.peakMiB.toFixed(0).padStart(9)} ${(m.peakMiB - m.baselineMiB).toFixed(0).padStart(11)}   [${m.seconds.map((x) => x.toFixed(2)).join(', ')}]`;
  console.log(`ResNet-50 state dict ${path} (${mb.toFixed(1)} MB), ${repeats} loads per side, each in a fresh process (peak RSS: median over them)`);
  console.log(`${'side'.padEnd(34)} ${'first s'.padStart(8)} ${'median s'.padStart(10)} ${'peak MiB'.padStart(9)} ${'over base'.padStart(11)}   all s`);
  console.log(row(`psdet (.pth -> tfjs ${backend})`, a));
  console.log(row('torch.load + load_state_dict', b));
  const p = a.phases!;
  console.log(`psdet phases (last run): read ${p.read!.toFixed(3)} s, zip + pickle ${p.parse!.toFixed(3)} s, decode ${p.decode!.toFixed(3)} s, transpose + assign ${p.assign!.toFixed(3)} s`);
  const ratio = median(a.seconds) / median(b.seconds);
  console.log(`ratio psdet / torch (median): time ${ratio.toFixed(2)}x, peak memory over baseline ${((a.peakMiB - a.baselineMiB) / Math.max(1, b.peakMiB - b.baselineMiB)).toFixed(2)}x`);
}

await main();
