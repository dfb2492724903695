import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '../model/module.js';
import { InputError } from '../util/errors.js';
import type { SafetensorsFile, StoredTensor, TensorToWrite } from './safetensors.js';

/**
 * Names and layouts of torchvision checkpoints, translated to psdet's:
 * - `resnet`: an ImageNet classification ResNet (`conv1.weight`, `layer1.0.bn1.running_mean`, `fc.weight`) onto a
 *   psdet ResNet (`stem.conv.weight`, `res2.0.bn1.running_mean`); the classifier is ignored.
 * - `retinanet`: a whole torchvision RetinaNet (`backbone.body.*`, `backbone.fpn.*`, `head.*`) onto a psdet RetinaNet
 *   (`backbone.*`, `fpn.*`, `head.*`).
 * Conv kernels are OIHW there and HWIO here; norm `weight` / `bias` are `gamma` / `beta`.
 */
export type TorchvisionLayout = 'resnet' | 'retinanet';

const NORM_FIELD: Record<string, string> = { gamma: 'weight', beta: 'bias', running_mean: 'running_mean', running_var: 'running_var' };

/** torchvision name(s) of a psdet backbone name (no `backbone.` prefix); the first is the canonical one. */
function backboneName(name: string): string | null {
  let m = /^stem\.conv\.weight$/.exec(name);
  if (m) return 'conv1.weight';
  m = /^stem\.bn\.(\w+)$/.exec(name);
  if (m) return `bn1.${NORM_FIELD[m[1]!] ?? m[1]}`;
  m = /^res([2-5])\.(\d+)\.(conv\d|bn\d|downsample\.conv|downsample\.bn)\.(\w+)$/.exec(name);
  if (m) {
    const layer = `layer${Number(m[1]) - 1}.${m[2]}`;
    const part = m[3]!.replace('downsample.conv', 'downsample.0').replace('downsample.bn', 'downsample.1');
    const field = part.startsWith('conv') || part === 'downsample.0' ? m[4]! : (NORM_FIELD[m[4]!] ?? m[4]!);
    return `${layer}.${part}.${field}`;
  }
  return null;
}

/**
 * The torchvision names a psdet parameter or buffer may be stored under, canonical first (older checkpoints of the
 * FPN and the head lack the `.0` of Conv2dNormActivation). Empty when the name has no torchvision counterpart.
 */
export function torchvisionNames(name: string, layout: TorchvisionLayout): string[] {
  if (layout === 'resnet') {
    const n = backboneName(name);
    return n === null ? [] : [n];
  }
  let m = /^backbone\.(.+)$/.exec(name);
  if (m) {
    const n = backboneName(m[1]!);
    return n === null ? [] : [`backbone.body.${n}`];
  }
  m = /^fpn\.(lateral|output)([345])\.(weight|bias)$/.exec(name);
  if (m) {
    const blocks = m[1] === 'lateral' ? 'inner_blocks' : 'layer_blocks';
    const i = Number(m[2]) - 3;
    return [`backbone.fpn.${blocks}.${i}.0.${m[3]}`, `backbone.fpn.${blocks}.${i}.${m[3]}`];
  }
  m = /^fpn\.(p6|p7)\.(weight|bias)$/.exec(name);
  if (m) return [`backbone.fpn.extra_blocks.${m[1]}.${m[2]}`];
  m = /^head\.(cls|box)\.tower\.(\d+)\.(weight|bias)$/.exec(name);
  if (m) {
    const branch = m[1] === 'cls' ? 'classification_head' : 'regression_head';
    return [`head.${branch}.conv.${m[2]}.0.${m[3]}`, `head.${branch}.conv.${m[2]}.${m[3]}`];
  }
  m = /^head\.cls\.logits\.(weight|bias)$/.exec(name);
  if (m) return [`head.classification_head.cls_logits.${m[1]}`];
  m = /^head\.box\.deltas\.(weight|bias)$/.exec(name);
  if (m) return [`head.regression_head.bbox_reg.${m[1]}`];
  return [];
}

/** Checkpoint entries that have no psdet counterpart by design and are skipped silently. */
function ignoredByDesign(tvName: string, layout: TorchvisionLayout): boolean {
  if (tvName.endsWith('num_batches_tracked')) return true;
  return layout === 'resnet' && (tvName === 'fc.weight' || tvName === 'fc.bias');
}

export interface LoadReport {
  /** psdet names that received a tensor. */
  loaded: string[];
  /** psdet names the checkpoint has nothing for (they keep their initial values). */
  missing: string[];
  /** Checkpoint names nothing in psdet took (besides num_batches_tracked and a classifier's fc). */
  unexpected: string[];
}

export interface LoadOptions {
  /** Throw an InputError listing missing and unexpected names instead of returning them (default true). */
  strict?: boolean;
  /** The file the tensors came from, for messages. */
  file?: string;
  /**
   * Subtracted from every norm `beta` as it is loaded: psBN computes gamma * xhat + beta + alpha, so BN weights
   * loaded with shift alpha give the BN function exactly (0 = no shift).
   */
  betaShift?: number;
  /** psdet names left as initialised (a class head that does not fit): neither loaded nor reported missing. */
  skip?: ReadonlySet<string>;
}

/** OIHW -> HWIO for 4-D tensors; others as they are, minus `shift`. Returns a new float32 tensor. */
function toPsdetLayout(t: StoredTensor, shift = 0): tf.Tensor {
  if (t.shape.length === 4) {
    const [o, i, h, w] = t.shape as [number, number, number, number];
    return tf.tensor(oihwToHwio(t.values, o, i, h, w), [h, w, i, o], 'float32');
  }
  return tf.tidy(() => {
    const x = tf.tensor(t.values, t.shape, t.values instanceof Float32Array ? 'float32' : 'int32');
    const f = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
    return shift === 0 ? f : tf.sub(f, shift);
  });
}

/**
 * A kernel's elements from OIHW to HWIO order: hwio[((kh * W + kw) * I + c) * O + k] = oihw[((k * I + c) * H + kh) * W + kw].
 * A plain loop (reading in source order) rather than tf.transpose: ~10x faster than the cpu backend's generic
 * transpose and no intermediate tensor.
 */
export function oihwToHwio(src: ArrayLike<number>, o: number, i: number, h: number, w: number): Float32Array {
  const dst = new Float32Array(o * i * h * w);
  let at = 0;
  for (let k = 0; k < o; k++) {
    for (let c = 0; c < i; c++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) dst[((y * w + x) * i + c) * o + k] = src[at++]!;
      }
    }
  }
  return dst;
}

/**
 * Copies a torchvision checkpoint's tensors into `module`'s parameters and buffers (`layout` says which kind of
 * checkpoint and module). Shapes must agree after OIHW -> HWIO; a mismatch is an InputError naming both tensors.
 */
export function loadTorchvisionWeights(module: Module, weights: SafetensorsFile, layout: TorchvisionLayout, opts: LoadOptions = {}): LoadReport {
  const file = opts.file ?? 'weights';
  const used = new Set<string>();
  const report: LoadReport = { loaded: [], missing: [], unexpected: [] };
  const betaShift = opts.betaShift ?? 0;
  for (const { name, variable } of [...module.params(), ...module.buffers()]) {
    if (opts.skip?.has(name) === true) continue;
    const tvName = torchvisionNames(name, layout).find((n) => weights.tensors.has(n));
    if (tvName === undefined) {
      report.missing.push(name);
      continue;
    }
    const stored = weights.tensors.get(tvName)!;
    const value = toPsdetLayout(stored, betaShift !== 0 && name.endsWith('.beta') ? betaShift : 0);
    if (!tf.util.arraysEqual(value.shape, variable.shape)) {
      value.dispose();
      throw new InputError(
        `${file}: tensor "${tvName}" [${stored.shape.join(', ')}] does not fit psdet "${name}" [${variable.shape.join(', ')}]` +
          (stored.shape.length === 4 ? ' (HWIO after transposing OIHW)' : ''),
      );
    }
    variable.assign(value);
    value.dispose();
    used.add(tvName);
    report.loaded.push(name);
  }
  for (const tvName of weights.tensors.keys()) {
    if (!used.has(tvName) && !ignoredByDesign(tvName, layout)) report.unexpected.push(tvName);
  }
  if ((opts.strict ?? true) && (report.missing.length > 0 || report.unexpected.length > 0)) {
    const list = (names: string[]): string => `${names.slice(0, 5).join(', ')}${names.length > 5 ? `, ... (${names.length} in all)` : ''}`;
    const parts: string[] = [];
    if (report.missing.length > 0) parts.push(`missing for psdet ${list(report.missing)}`);
    if (report.unexpected.length > 0) parts.push(`unexpected ${list(report.unexpected)}`);
    throw new InputError(`${file}: not a torchvision ${layout} checkpoint for this model: ${parts.join('; ')}`);
  }
  return report;
}

/** A module's parameters and buffers under torchvision names, OIHW kernels: the inverse of loading. */
export async function toTorchvisionTensors(module: Module, layout: TorchvisionLayout): Promise<Map<string, TensorToWrite>> {
  const out = new Map<string, TensorToWrite>();
  for (const { name, variable } of [...module.params(), ...module.buffers()]) {
    const tvName = torchvisionNames(name, layout)[0];
    if (tvName === undefined) throw new Error(`toTorchvisionTensors: "${name}" has no torchvision name`);
    const t = tf.tidy(() => (variable.rank === 4 ? tf.transpose(variable, [3, 2, 0, 1]) : tf.clone(variable)));
    out.set(tvName, { shape: t.shape, values: (await t.data()) as Float32Array });
    t.dispose();
  }
  return out;
}

/** A module's parameters and buffers under psdet names, as saved in psdet's own weight files. */
export async function namedTensors(module: Module): Promise<Map<string, TensorToWrite>> {
  const out = new Map<string, TensorToWrite>();
  for (const { name, variable } of [...module.params(), ...module.buffers()]) {
    out.set(name, { shape: variable.shape, values: (await variable.data()) as Float32Array });
  }
  return out;
}
