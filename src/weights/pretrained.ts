import * as tf from '@tensorflow/tfjs-core';
import type { NormKind } from '../config/types.js';
import type { Module } from '../model/module.js';
import { InputError } from '../util/errors.js';
import { TORCHVISION_COCO_LABELS } from './catalogue.js';
import type { SafetensorsFile, StoredTensor } from './safetensors.js';
import { loadTorchvisionWeights, torchvisionNames } from './torchvision.js';

/**
 * Pretrained weights into a psdet RetinaNet, as the fine-tuning recipes do it:
 * - an ImageNet ResNet (torchvision names) fills the backbone; FPN and head keep their initialisation;
 * - a COCO RetinaNet (torchvision names) fills everything; its 91-way classification layer is mapped onto the
 *   dataset's classes when they are COCO categories (torchvision's class k is COCO category id k), and is left as
 *   initialised (prior-probability bias) for any other class set, as torchvision's fine-tuning recipe replaces it;
 * - psdet-named weights (a psdet model.safetensors) load name for name.
 * BN statistics and affine parameters load the same into BN, FrozenBN and psBN; for psBN beta becomes
 * beta - alpha, so that the loaded model computes the pretrained function exactly at step 0.
 */

/** What a state dict's names say it is. */
export type WeightsLayout = 'torchvision-resnet' | 'torchvision-retinanet' | 'psdet';

/** A RetinaNet as far as loading needs it: parameters and buffers, and the backbone's own. */
export interface PretrainedTarget extends Module {
  readonly backbone: Module;
}

export interface PretrainedOptions {
  /** The weights file, for messages. */
  file: string;
  /** The target's backbone norm and psBN alpha (model config's `norm`, `psbnAlpha`). */
  norm: NormKind;
  psbnAlpha: number;
  /** 'backbone': only the backbone (model.pretrainedBackbone); 'all' (default): whatever the weights hold. */
  scope?: 'backbone' | 'all';
  /** The dataset's classes in label order (COCO category ids and names), for the class head. */
  categories?: { ids: readonly number[]; names: readonly string[] } | null;
  /**
   * The norm psdet-named weights were trained with (default 'bn'); torchvision weights are always BN. Weights from
   * BN or FrozenBN loaded into psBN get the beta shift; psBN into psBN does not.
   */
  sourceNorm?: NormKind;
}

export interface PretrainedReport {
  layout: WeightsLayout;
  /** Tensors loaded. */
  loaded: number;
  /** Norm betas shifted by -alpha (psBN targets). */
  betaShifted: number;
  /** What happened to the classification layer: loaded as is, mapped from COCO ids, re-initialised, or untouched. */
  classHead: 'loaded' | 'mapped' | 'reinitialised' | 'not in weights';
  /** One line for the log. */
  summary: string;
}

const CLS_WEIGHT = 'head.classification_head.cls_logits.weight';
const CLS_BIAS = 'head.classification_head.cls_logits.bias';
const BOX_BIAS = 'head.regression_head.bbox_reg.bias';
const PSDET_CLS = new Set(['head.cls.logits.weight', 'head.cls.logits.bias']);

/** Tells the three layouts apart by their names; anything else is an InputError listing the first names. */
export function detectLayout(weights: SafetensorsFile, file: string): WeightsLayout {
  const names = [...weights.tensors.keys()];
  if (names.some((n) => n.startsWith('backbone.body.'))) return 'torchvision-retinanet';
  if (weights.tensors.has('conv1.weight') && names.some((n) => n.startsWith('layer1.'))) return 'torchvision-resnet';
  if (names.some((n) => n.startsWith('backbone.stem.') || n.startsWith('stem.'))) return 'psdet';
  throw new InputError(
    `${file}: neither a torchvision ResNet / RetinaNet state dict nor psdet weights (names start ${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''})`,
  );
}

/** The tensors under `prefix`, the prefix removed. */
function under(weights: SafetensorsFile, prefix: string): SafetensorsFile {
  const tensors = new Map<string, StoredTensor>();
  for (const [k, v] of weights.tensors) if (k.startsWith(prefix)) tensors.set(k.slice(prefix.length), v);
  return { tensors, metadata: weights.metadata };
}

/**
 * The classification layer of a torchvision COCO head restricted to `categories`: channel a * K + j of the result
 * is channel a * 91 + ids[j] of the checkpoint (torchvision orders logits anchor-major, class-minor, as psdet does).
 * Null when the categories are not all COCO categories under their COCO names.
 */
export function mapCocoClassifier(
  weight: StoredTensor,
  bias: StoredTensor,
  numAnchors: number,
  categories: { ids: readonly number[]; names: readonly string[] },
): { weight: StoredTensor; bias: StoredTensor } | null {
  const k = TORCHVISION_COCO_LABELS.length;
  if (bias.shape[0] !== numAnchors * k) return null;
  const fits = categories.ids.every((id, j) => {
    const label = TORCHVISION_COCO_LABELS[id];
    return Number.isInteger(id) && id > 0 && label !== undefined && label !== 'N/A' && label.toLowerCase() === categories.names[j]?.toLowerCase();
  });
  if (!fits) return null;
  const kOut = categories.ids.length;
  const row = weight.values.length / bias.values.length; // C * 3 * 3 elements per output channel (OIHW)
  const w = new Float32Array(numAnchors * kOut * row);
  const b = new Float32Array(numAnchors * kOut);
  for (let a = 0; a < numAnchors; a++) {
    categories.ids.forEach((id, j) => {
      const src = a * k + id;
      const dst = a * kOut + j;
      w.set(weight.values.subarray(src * row, (src + 1) * row), dst * row);
      b[dst] = bias.values[src]!;
    });
  }
  return {
    weight: { dtype: 'F32', shape: [numAnchors * kOut, ...weight.shape.slice(1)], values: w },
    bias: { dtype: 'F32', shape: [numAnchors * kOut], values: b },
  };
}

/** Loads `weights` into `model` (see the header); errors name the file and the tensor. */
export function loadPretrained(model: PretrainedTarget, weights: SafetensorsFile, opts: PretrainedOptions): PretrainedReport {
  const layout = detectLayout(weights, opts.file);
  const scope = opts.scope ?? 'all';
  const fromBn = layout !== 'psdet' || (opts.sourceNorm ?? 'bn') !== 'psbn';
  const betaShift = opts.norm === 'psbn' && fromBn ? opts.psbnAlpha : 0;
  const countBetas = (m: Module): number => (betaShift === 0 ? 0 : m.params().filter((p) => p.kind === 'norm' && p.name.endsWith('.beta')).length);
  const file = opts.file;

  if (layout === 'psdet') {
    const target: Module = scope === 'backbone' ? model.backbone : model;
    const source = scope === 'backbone' && [...weights.tensors.keys()].some((k) => k.startsWith('backbone.')) ? under(weights, 'backbone.') : weights;
    const loaded = loadByName(target, source, file, betaShift);
    return { layout, loaded, betaShifted: countBetas(target), classHead: scope === 'backbone' ? 'not in weights' : 'loaded', summary: summary(layout, loaded, countBetas(target), betaShift, null) };
  }
  if (layout === 'torchvision-resnet' || scope === 'backbone') {
    const source = layout === 'torchvision-resnet' ? weights : under(weights, 'backbone.body.');
    const r = loadTorchvisionWeights(model.backbone, source, 'resnet', { file, betaShift, strict: true });
    const shifted = countBetas(model.backbone);
    return { layout, loaded: r.loaded.length, betaShifted: shifted, classHead: 'not in weights', summary: summary(layout, r.loaded.length, shifted, betaShift, 'backbone only') };
  }

  // A whole torchvision RetinaNet: the class layer maps, loads as is, or stays as initialised.
  const cls = model.params().find((p) => p.name === 'head.cls.logits.weight');
  const w = weights.tensors.get(CLS_WEIGHT);
  const b = weights.tensors.get(CLS_BIAS);
  const box = weights.tensors.get(BOX_BIAS);
  let source = weights;
  let skip: ReadonlySet<string> | undefined;
  let classHead: PretrainedReport['classHead'] = 'loaded';
  let note = '';
  if (cls !== undefined && w !== undefined && b !== undefined && box !== undefined) {
    const numAnchors = box.shape[0]! / 4;
    const modelOut = cls.variable.shape[3]!;
    const categories = opts.categories ?? null;
    const mapped = categories !== null && b.shape[0] !== modelOut ? mapCocoClassifier(w, b, numAnchors, categories) : null;
    if (mapped !== null) {
      source = { tensors: new Map(weights.tensors), metadata: weights.metadata };
      source.tensors.set(CLS_WEIGHT, mapped.weight);
      source.tensors.set(CLS_BIAS, mapped.bias);
      classHead = 'mapped';
      note = `classification layer mapped from torchvision's 91 COCO labels to the ${categories!.ids.length} dataset categories`;
    } else if (b.shape[0] !== modelOut) {
      skip = PSDET_CLS;
      classHead = 'reinitialised';
      note = `classification layer re-initialised: the weights have ${b.shape[0]! / numAnchors} classes, the model ${modelOut / numAnchors}`;
    }
  }
  const r = loadTorchvisionWeights(model, source, 'retinanet', { file, betaShift, strict: false, ...(skip === undefined ? {} : { skip }) });
  if (skip !== undefined) r.unexpected = r.unexpected.filter((n) => n !== CLS_WEIGHT && n !== CLS_BIAS);
  if (r.missing.length > 0 || r.unexpected.length > 0) {
    const list = (names: string[]): string => `${names.slice(0, 4).join(', ')}${names.length > 4 ? `, ... (${names.length} in all)` : ''}`;
    throw new InputError(
      `${file}: not a torchvision RetinaNet for this model:` +
        (r.missing.length > 0 ? ` tensor "${tvHint(r.missing[0]!)}" missing (psdet ${list(r.missing)})` : '') +
        (r.unexpected.length > 0 ? `${r.missing.length > 0 ? ';' : ''} unexpected ${list(r.unexpected)}` : ''),
    );
  }
  const shifted = countBetas(model.backbone);
  return { layout, loaded: r.loaded.length, betaShifted: shifted, classHead, summary: summary(layout, r.loaded.length, shifted, betaShift, note || null) };
}

function tvHint(psdetName: string): string {
  return torchvisionNames(psdetName, 'retinanet')[0] ?? psdetName;
}

function summary(layout: WeightsLayout, loaded: number, shifted: number, alpha: number, note: string | null): string {
  const parts = [`${loaded} tensors (${layout})`];
  if (shifted > 0) parts.push(`psBN: ${shifted} betas shifted by -${alpha} (same function as the BN weights at step 0)`);
  if (note !== null) parts.push(note);
  return parts.join('; ');
}

/** psdet names to psdet names, shapes checked; strict both ways. */
function loadByName(module: Module, weights: SafetensorsFile, file: string, betaShift: number): number {
  const used = new Set<string>();
  const missing: string[] = [];
  for (const { name, variable } of [...module.params(), ...module.buffers()]) {
    const t = weights.tensors.get(name);
    if (t === undefined) {
      missing.push(name);
      continue;
    }
    if (!tf.util.arraysEqual(t.shape, variable.shape)) {
      throw new InputError(`${file}: tensor "${name}" [${t.shape.join(', ')}] does not fit the model's [${variable.shape.join(', ')}]`);
    }
    tf.tidy(() => {
      const v = tf.tensor(t.values, t.shape, 'float32');
      variable.assign(betaShift !== 0 && name.endsWith('.beta') ? tf.sub(v, betaShift) : v);
    });
    used.add(name);
  }
  if (missing.length > 0) throw new InputError(`${file}: tensor "${missing[0]}" missing${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ''}`);
  return used.size;
}
