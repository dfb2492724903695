import * as tf from '@tensorflow/tfjs-core';
import type { ActivationProbe, Stage } from '../analysis/probe.js';
import type { NormKind, ResNetDepth } from '../config/types.js';
import { Rng } from '../util/rng.js';
import { Conv2d } from './conv.js';
import { prefixed, type Module, type NamedBuffer, type NamedParam } from './module.js';
import { makeNorm, type NormLayer, type NormOptions } from './norm.js';
import { maxPool3x3s2 } from './ops.js';

/** How every norm layer of a backbone is made: the kind and its options (frozen stages are applied on top). */
export interface NormSpec {
  kind: NormKind;
  options: Partial<NormOptions>;
}

/** What a forward pass needs besides its input. */
export interface ForwardContext {
  training: boolean;
  probe?: ActivationProbe;
}

/** The pieces of a stage: the stem, or res2..res5. */
export interface BackboneStage extends Module {
  /** Freezes parameters and norms of the stage (frozen stages). */
  freeze(): void;
}

/** Applies ReLU, first letting the probe observe its input. */
export function reluSite(
  x: tf.Tensor4D,
  ctx: ForwardContext,
  stage: Stage,
  name: string,
  norm?: NormLayer,
): tf.Tensor4D {
  if (ctx.probe !== undefined) ctx.probe.observe({ stage, name }, x, norm?.view());
  return tf.relu(x);
}

/** conv + norm, the unit every block is made of (torchvision ResNet convs have no bias). */
class ConvNorm {
  constructor(
    readonly conv: Conv2d,
    readonly norm: NormLayer,
  ) {}

  apply(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    return tf.tidy(() => this.norm.apply(this.conv.apply(x), training));
  }
}

function convNorm(
  inC: number,
  outC: number,
  kernel: number,
  stride: number,
  norm: NormSpec,
  rng: Rng,
): ConvNorm {
  const conv = new Conv2d({ inChannels: inC, outChannels: outC, kernelSize: kernel, stride, bias: false, init: { kind: 'resnet' }, rng });
  return new ConvNorm(conv, makeNorm(norm.kind, outC, norm.options));
}

function convNormParams(prefix: string, cn: ConvNorm, convName: string, normName: string): NamedParam[] {
  return [...prefixed(`${prefix}${convName}`, cn.conv.params()), ...prefixed(`${prefix}${normName}`, cn.norm.params())];
}

function convNormBuffers(prefix: string, cn: ConvNorm, normName: string): NamedBuffer[] {
  return prefixed(`${prefix}${normName}`, cn.norm.buffers());
}

function freezeConvNorm(cn: ConvNorm): void {
  cn.conv.setTrainable(false);
  cn.norm.freeze();
}

function disposeConvNorm(cn: ConvNorm): void {
  cn.conv.dispose();
  cn.norm.dispose();
}

/** Stem: conv 7x7 / 2 (pad 3) + norm + ReLU + max-pool 3x3 / 2 (pad 1): [N, H, W, 3] -> [N, H/4, W/4, C]. */
export class Stem implements BackboneStage {
  readonly outChannels: number;
  private readonly unit: ConvNorm;

  constructor(outChannels: number, norm: NormSpec, rng: Rng) {
    this.outChannels = outChannels;
    this.unit = convNorm(3, outChannels, 7, 2, norm, rng);
  }

  forward(x: tf.Tensor4D, ctx: ForwardContext, siteName: string): tf.Tensor4D {
    return tf.tidy(() => {
      const y = this.unit.apply(x, ctx.training);
      return maxPool3x3s2(reluSite(y, ctx, 'stem', siteName, this.unit.norm));
    });
  }

  get norm(): NormLayer {
    return this.unit.norm;
  }

  freeze(): void {
    freezeConvNorm(this.unit);
  }

  params(): NamedParam[] {
    return convNormParams('', this.unit, 'conv', 'bn');
  }

  buffers(): NamedBuffer[] {
    return convNormBuffers('', this.unit, 'bn');
  }

  dispose(): void {
    disposeConvNorm(this.unit);
  }
}

/** A residual block: `forward(x)` = relu(body(x) + shortcut(x)). */
export interface ResidualBlock extends Module {
  readonly outChannels: number;
  forward(x: tf.Tensor4D, ctx: ForwardContext, stage: Stage, prefix: string): tf.Tensor4D;
  freeze(): void;
  /** Norm layers in parameter-name order, for counts and tests. */
  norms(): NormLayer[];
}

/**
 * relu(body(x) + shortcut(x)), the body a chain of conv + norm units with a ReLU site after every unit but the last
 * (`relu1`, `relu2`, ...; each carries its norm's view), the shortcut a 1x1 conv + norm when the shape changes.
 */
class ResidualUnits implements ResidualBlock {
  constructor(
    readonly outChannels: number,
    private readonly units: ConvNorm[],
    private readonly downsample: ConvNorm | null,
  ) {}

  forward(x: tf.Tensor4D, ctx: ForwardContext, stage: Stage, prefix: string): tf.Tensor4D {
    return tf.tidy(() => {
      let y = x;
      this.units.forEach((u, i) => {
        y = u.apply(y, ctx.training);
        if (i < this.units.length - 1) y = reluSite(y, ctx, stage, `${prefix}.relu${i + 1}`, u.norm);
      });
      const identity = this.downsample === null ? x : this.downsample.apply(x, ctx.training);
      return reluSite(tf.add(y, identity), ctx, stage, `${prefix}.relu_out`);
    });
  }

  freeze(): void {
    for (const u of this.units) freezeConvNorm(u);
    if (this.downsample !== null) freezeConvNorm(this.downsample);
  }

  norms(): NormLayer[] {
    return [...this.units.map((u) => u.norm), ...(this.downsample === null ? [] : [this.downsample.norm])];
  }

  params(): NamedParam[] {
    const out = this.units.flatMap((u, i) => convNormParams('', u, `conv${i + 1}`, `bn${i + 1}`));
    if (this.downsample !== null) out.push(...convNormParams('downsample.', this.downsample, 'conv', 'bn'));
    return out;
  }

  buffers(): NamedBuffer[] {
    const out = this.units.flatMap((u, i) => convNormBuffers('', u, `bn${i + 1}`));
    if (this.downsample !== null) out.push(...convNormBuffers('downsample.', this.downsample, 'bn'));
    return out;
  }

  dispose(): void {
    for (const u of this.units) disposeConvNorm(u);
    if (this.downsample !== null) disposeConvNorm(this.downsample);
  }
}

/** ResNet-18/34 block: 3x3 (stride) + norm + ReLU, 3x3 + norm, + shortcut, ReLU. Expansion 1. */
export class BasicBlock extends ResidualUnits {
  static readonly expansion = 1;

  constructor(inC: number, planes: number, stride: number, norm: NormSpec, rng: Rng) {
    super(
      planes,
      [convNorm(inC, planes, 3, stride, norm, rng), convNorm(planes, planes, 3, 1, norm, rng)],
      stride !== 1 || inC !== planes ? convNorm(inC, planes, 1, stride, norm, rng) : null,
    );
  }
}

/**
 * ResNet-50/101 block, torchvision V1.5 (stride on the 3x3): 1x1 + norm + ReLU, 3x3 (stride) + norm + ReLU,
 * 1x1 (x4) + norm, + shortcut, ReLU.
 */
export class Bottleneck extends ResidualUnits {
  static readonly expansion = 4;

  constructor(inC: number, planes: number, stride: number, norm: NormSpec, rng: Rng) {
    const outC = planes * Bottleneck.expansion;
    super(
      outC,
      [convNorm(inC, planes, 1, 1, norm, rng), convNorm(planes, planes, 3, stride, norm, rng), convNorm(planes, outC, 1, 1, norm, rng)],
      stride !== 1 || inC !== outC ? convNorm(inC, outC, 1, stride, norm, rng) : null,
    );
  }
}

/** A sequence of residual blocks: res2..res5. */
export class ResStage implements BackboneStage {
  constructor(
    readonly name: 'res2' | 'res3' | 'res4' | 'res5',
    readonly blocks: ResidualBlock[],
  ) {}

  get outChannels(): number {
    return this.blocks[this.blocks.length - 1]!.outChannels;
  }

  /** `prefix` is the stage's dotted name in the model (`backbone.res3`), used for probe site names. */
  forward(x: tf.Tensor4D, ctx: ForwardContext, prefix: string): tf.Tensor4D {
    return tf.tidy(() => {
      let y = x;
      this.blocks.forEach((block, i) => {
        y = block.forward(y, ctx, this.name, `${prefix}.${i}`);
      });
      return y;
    });
  }

  freeze(): void {
    for (const b of this.blocks) b.freeze();
  }

  params(): NamedParam[] {
    return this.blocks.flatMap((b, i) => prefixed(String(i), b.params()));
  }

  buffers(): NamedBuffer[] {
    return this.blocks.flatMap((b, i) => prefixed(String(i), b.buffers()));
  }

  dispose(): void {
    for (const b of this.blocks) b.dispose();
  }
}

/** Blocks per stage res2..res5 for each depth, and whether the depth uses bottlenecks. */
export const RESNET_LAYOUT: Record<ResNetDepth, { blocks: [number, number, number, number]; bottleneck: boolean }> = {
  18: { blocks: [2, 2, 2, 2], bottleneck: false },
  34: { blocks: [3, 4, 6, 3], bottleneck: false },
  50: { blocks: [3, 4, 6, 3], bottleneck: true },
  101: { blocks: [3, 4, 23, 3], bottleneck: true },
};

export interface ResNetOptions {
  depth: ResNetDepth;
  /** Multiplies every width (stem 64, planes 64..512), rounded, at least 1. */
  widthMultiplier: number;
  norm: NormSpec;
  /** 0 = none, 1 = stem, 2 = stem + res2, ..., 5 = all. */
  frozenStages: number;
  rng: Rng;
}

/** The C3..C5 feature maps: strides 8, 16, 32. */
export interface BackboneFeatures {
  c3: tf.Tensor4D;
  c4: tf.Tensor4D;
  c5: tf.Tensor4D;
}

/** Rounded scaled width, at least 1. */
export function scaledWidth(width: number, multiplier: number): number {
  return Math.max(1, Math.round(width * multiplier));
}

/**
 * ResNet (torchvision V1.5) without the classifier: stem, res2..res5; outputs C3..C5.
 * Parameter names: `stem.conv.weight`, `stem.bn.gamma`, `res2.0.conv1.weight`, `res2.0.downsample.conv.weight`, ...
 */
export class ResNet implements Module {
  readonly depth: ResNetDepth;
  readonly stem: Stem;
  readonly stages: [ResStage, ResStage, ResStage, ResStage];
  /** Channels of C3, C4, C5. */
  readonly outChannels: [number, number, number];

  constructor(opts: ResNetOptions) {
    const layout = RESNET_LAYOUT[opts.depth];
    const m = opts.widthMultiplier;
    this.depth = opts.depth;
    this.stem = new Stem(scaledWidth(64, m), opts.norm, opts.rng);
    let inC = this.stem.outChannels;
    const names = ['res2', 'res3', 'res4', 'res5'] as const;
    const stages: ResStage[] = [];
    for (let s = 0; s < 4; s++) {
      const planes = scaledWidth(64 * 2 ** s, m);
      const blocks: ResidualBlock[] = [];
      for (let b = 0; b < layout.blocks[s]!; b++) {
        const stride = b === 0 && s > 0 ? 2 : 1;
        const block = layout.bottleneck
          ? new Bottleneck(inC, planes, stride, opts.norm, opts.rng)
          : new BasicBlock(inC, planes, stride, opts.norm, opts.rng);
        blocks.push(block);
        inC = block.outChannels;
      }
      stages.push(new ResStage(names[s]!, blocks));
    }
    this.stages = stages as [ResStage, ResStage, ResStage, ResStage];
    this.outChannels = [this.stages[1].outChannels, this.stages[2].outChannels, this.stages[3].outChannels];
    const frozen: BackboneStage[] = [this.stem, ...this.stages].slice(0, opts.frozenStages);
    for (const stage of frozen) stage.freeze();
  }

  /** [N, H, W, 3] -> C3 [N, H/8, W/8, c3], C4 [.., H/16 ..], C5 [.., H/32 ..]. `prefix` names probe sites. */
  forward(images: tf.Tensor4D, ctx: ForwardContext, prefix = 'backbone'): BackboneFeatures {
    return tf.tidy(() => {
      const c2 = this.stages[0].forward(this.stem.forward(images, ctx, `${prefix}.stem.relu`), ctx, `${prefix}.res2`);
      const c3 = this.stages[1].forward(c2, ctx, `${prefix}.res3`);
      const c4 = this.stages[2].forward(c3, ctx, `${prefix}.res4`);
      const c5 = this.stages[3].forward(c4, ctx, `${prefix}.res5`);
      return { c3, c4, c5 };
    });
  }

  params(): NamedParam[] {
    return [...prefixed('stem', this.stem.params()), ...this.stages.flatMap((s) => prefixed(s.name, s.params()))];
  }

  buffers(): NamedBuffer[] {
    return [...prefixed('stem', this.stem.buffers()), ...this.stages.flatMap((s) => prefixed(s.name, s.buffers()))];
  }

  dispose(): void {
    this.stem.dispose();
    for (const s of this.stages) s.dispose();
  }
}

/** The backbone's norm layers as built: the stem's, then every block's in parameter-name order. */
export function backboneNorms(backbone: ResNet): NormLayer[] {
  return [backbone.stem.norm, ...backbone.stages.flatMap((s) => s.blocks.flatMap((b) => b.norms()))];
}

/** How norm layers behave in training, read from the layers themselves (frozen stages and norm-eval included). */
export interface NormBehaviour {
  layers: number;
  /** Layers per kind, e.g. { psbn: 20 }. */
  kinds: Partial<Record<NormLayer['kind'], number>>;
  /** Layers that normalise with batch statistics in training (and update their running statistics). */
  batchStats: number;
  /** Layers whose γ and β the optimizer trains. */
  affineTrained: number;
}

export function normBehaviour(norms: readonly NormLayer[]): NormBehaviour {
  const kinds: NormBehaviour['kinds'] = {};
  for (const n of norms) kinds[n.kind] = (kinds[n.kind] ?? 0) + 1;
  return {
    layers: norms.length,
    kinds,
    batchStats: norms.filter((n) => n.usesBatchStats).length,
    affineTrained: norms.filter((n) => n.params().every((p) => p.trainable)).length,
  };
}

/** `backbone norms as built: 20 psbn; batch statistics in training: 15 of 20; gamma/beta trained: 15 of 20`. */
export function formatNormBehaviour(b: NormBehaviour): string {
  const kinds = Object.entries(b.kinds).map(([kind, n]) => `${n} ${kind}`).join(', ');
  return `backbone norms as built: ${kinds}; batch statistics in training: ${b.batchStats} of ${b.layers}; gamma/beta trained: ${b.affineTrained} of ${b.layers}`;
}
