import * as tf from '@tensorflow/tfjs-core';
import type { ActivationProbe, NormView, ReluSite, Stage } from './probe.js';
import { STAGES } from './probe.js';

/** The thresholds a collapse figure was computed with; written beside every figure. */
export interface CollapseThresholds {
  /** A channel is dead when its ReLU input is <= this at every position of every probe image. */
  deadThreshold: number;
  /** The parameter view counts a channel when |gamma| < this and beta + alpha <= 0. */
  gammaThreshold: number;
}

export const DEFAULT_THRESHOLDS: CollapseThresholds = { deadThreshold: 0, gammaThreshold: 1e-2 };

/** The figures of one ReLU site. */
export interface SiteCollapse {
  name: string;
  stage: Stage;
  channels: number;
  /**
   * Activation maps seen at this site: probe images x the times the site runs per image (the head towers run once
   * per pyramid level, so they see 5 per image).
   */
  images: number;
  /** Channels whose ReLU input never exceeded deadThreshold. */
  dead: number;
  /** Indices of those channels, ascending (what the revival study compares). */
  deadChannels: number[];
  /** [C] each channel's max ReLU input over the probe (how far from firing a dead channel is). */
  max: number[];
  /** Whether a norm layer feeds this site directly (the parameter view applies). */
  normFed: boolean;
  /** Norm-fed only: |gamma| < gammaThreshold and beta + alpha <= 0. */
  paramCollapsed: number;
  /** Norm-fed only: channels whose max over the probe of gamma * xhat + beta + alpha is <= 0. */
  normNonPositive: number;
  /** psBN's alpha as the norm reported it (0 for BN / FrozenBN; null when not norm-fed). */
  alpha: number | null;
}

/** The figures of one stage (all its ReLU sites together). */
export interface StageCollapse {
  stage: Stage | 'total';
  sites: number;
  channels: number;
  dead: number;
  /** dead / channels. */
  deadRatio: number;
  /** Channels at norm-fed sites: the denominator of the parameter view. */
  normChannels: number;
  paramCollapsed: number;
  /** paramCollapsed / normChannels, or null when the stage has no norm-fed site. */
  paramCollapsedRatio: number | null;
  normNonPositive: number;
  /** normNonPositive / normChannels, or null when the stage has no norm-fed site. */
  normNonPositiveRatio: number | null;
  thresholds: CollapseThresholds;
}

/** What `CollapseProbe.summarize` returns: per stage (in STAGES order, observed stages only), the total and per site. */
export interface CollapseReport {
  thresholds: CollapseThresholds;
  /** Probe images: the fewest activation maps any site saw (every site runs at least once per image). */
  images: number;
  stages: StageCollapse[];
  total: StageCollapse;
  sites: SiteCollapse[];
}

/** Running state of one site: on-device [C] accumulators, kept across the caller's tidy scopes. */
interface SiteState {
  site: ReluSite;
  channels: number;
  images: number;
  /** [C] max over every position of every probe image of the ReLU input. */
  max: tf.Tensor1D;
  /** [C] copies of the norm's gamma and beta as last observed, or null for sites not fed by a norm. */
  gamma: tf.Tensor1D | null;
  beta: tf.Tensor1D | null;
  alpha: number;
}

/**
 * Collapsed-filter statistics over a probe set. Hand it to the model's forward pass as the activation probe; after
 * the probe images have gone through, `summarize()` reports per stage how many channels are dead (ReLU output zero
 * at every position of every probe image) and, for norm-fed sites, the parameter view.
 *
 * Each `observe` reduces the activation to a per-channel max at once, inside the caller's tidy; only the [C] running
 * maxima and copies of gamma / beta are kept (on the backend, so no synchronous read happens while the forward pass
 * runs). Call `dispose()` (or `reset()`) when done: the probe owns those small tensors.
 *
 * For a norm-fed site the ReLU input is gamma * xhat + beta + alpha itself, so "max over the probe of
 * gamma * xhat + beta (+ alpha) <= 0" is measured on the same running max, with the threshold fixed at 0.
 */
export class CollapseProbe implements ActivationProbe {
  readonly thresholds: CollapseThresholds;
  private readonly states = new Map<string, SiteState>();

  constructor(thresholds: Partial<CollapseThresholds> = {}) {
    this.thresholds = { ...DEFAULT_THRESHOLDS, ...thresholds };
    for (const [key, value] of Object.entries(this.thresholds)) {
      if (!Number.isFinite(value)) throw new Error(`CollapseProbe: threshold ${key} must be a finite number, got ${value}`);
    }
  }

  /** Number of sites observed so far. */
  get siteCount(): number {
    return this.states.size;
  }

  /**
   * Folds one batch into the site's running per-channel max.
   * @param preRelu [N, H, W, C] the tensor fed into the ReLU.
   * @param norm the affine parameters ([C] each) when a norm layer's output feeds the ReLU directly.
   */
  observe(site: ReluSite, preRelu: tf.Tensor4D, norm?: NormView): void {
    if (preRelu.rank !== 4) throw new Error(`CollapseProbe: site ${site.name}: expected [N, H, W, C], got shape [${preRelu.shape}]`);
    const [n, , , channels] = preRelu.shape;
    const previous = this.states.get(site.name);
    if (previous !== undefined && previous.channels !== channels) {
      throw new Error(`CollapseProbe: site ${site.name} had ${previous.channels} channels, now ${channels}`);
    }
    if (previous !== undefined && previous.site.stage !== site.stage) {
      throw new Error(`CollapseProbe: site ${site.name} was in stage ${previous.site.stage}, now ${site.stage}`);
    }
    if (norm !== undefined && (norm.gamma.size !== channels || norm.beta.size !== channels)) {
      throw new Error(
        `CollapseProbe: site ${site.name}: gamma/beta have ${norm.gamma.size}/${norm.beta.size} values for ${channels} channels`,
      );
    }
    const batchMax = tf.tidy(() => {
      const reduced = tf.max(preRelu, [0, 1, 2]) as tf.Tensor1D;
      return previous === undefined ? reduced : (tf.maximum(previous.max, reduced) as tf.Tensor1D);
    });
    tf.keep(batchMax);
    let gamma = previous?.gamma ?? null;
    let beta = previous?.beta ?? null;
    if (norm !== undefined) {
      // Parameters may be variables or tensors the caller's tidy frees: keep our own copies, latest wins.
      gamma?.dispose();
      beta?.dispose();
      gamma = tf.keep(tf.tidy(() => tf.clone(tf.reshape(norm.gamma, [channels])) as tf.Tensor1D));
      beta = tf.keep(tf.tidy(() => tf.clone(tf.reshape(norm.beta, [channels])) as tf.Tensor1D));
    }
    previous?.max.dispose();
    this.states.set(site.name, {
      site: { stage: site.stage, name: site.name },
      channels,
      images: (previous?.images ?? 0) + n,
      max: batchMax,
      gamma,
      beta,
      alpha: norm?.alpha ?? previous?.alpha ?? 0,
    });
  }

  /** Reads the accumulators (synchronously) and groups the figures by stage. */
  summarize(): CollapseReport {
    const sites = [...this.states.values()].map((state) =>
      siteFigures(state, state.max.dataSync() as Float32Array, state.gamma?.dataSync() as Float32Array | undefined,
        state.beta?.dataSync() as Float32Array | undefined, this.thresholds),
    );
    return buildReport(sites, this.thresholds);
  }

  /** As `summarize`, reading the accumulators asynchronously (required on webgpu, where sync reads throw). */
  async summarizeAsync(): Promise<CollapseReport> {
    const sites: SiteCollapse[] = [];
    for (const state of this.states.values()) {
      const [max, gamma, beta] = await Promise.all([state.max.data(), state.gamma?.data(), state.beta?.data()]);
      sites.push(siteFigures(state, max as Float32Array, gamma as Float32Array | undefined, beta as Float32Array | undefined, this.thresholds));
    }
    return buildReport(sites, this.thresholds);
  }

  /** Forgets every site and frees the accumulators, ready for another probe pass. */
  reset(): void {
    for (const state of this.states.values()) {
      state.max.dispose();
      state.gamma?.dispose();
      state.beta?.dispose();
    }
    this.states.clear();
  }

  dispose(): void {
    this.reset();
  }
}

function siteFigures(
  state: SiteState,
  max: Float32Array,
  gamma: Float32Array | undefined,
  beta: Float32Array | undefined,
  thresholds: CollapseThresholds,
): SiteCollapse {
  const deadChannels: number[] = [];
  let paramCollapsed = 0;
  let normNonPositive = 0;
  const normFed = gamma !== undefined && beta !== undefined;
  for (let c = 0; c < state.channels; c++) {
    // NaN compares false: a channel with a NaN max is not called dead (the trainer stops on NaN anyway).
    if (max[c]! <= thresholds.deadThreshold) deadChannels.push(c);
    if (normFed) {
      if (Math.abs(gamma[c]!) < thresholds.gammaThreshold && beta[c]! + state.alpha <= 0) paramCollapsed++;
      if (max[c]! <= 0) normNonPositive++;
    }
  }
  return {
    name: state.site.name,
    stage: state.site.stage,
    channels: state.channels,
    images: state.images,
    dead: deadChannels.length,
    deadChannels,
    max: Array.from(max),
    normFed,
    paramCollapsed,
    normNonPositive,
    alpha: normFed ? state.alpha : null,
  };
}

/** Groups site figures into per-stage rows (STAGES order, observed stages only) and a total row. */
export function buildReport(sites: SiteCollapse[], thresholds: CollapseThresholds): CollapseReport {
  const stages: StageCollapse[] = [];
  for (const stage of STAGES) {
    const inStage = sites.filter((s) => s.stage === stage);
    if (inStage.length > 0) stages.push(aggregate(stage, inStage, thresholds));
  }
  return {
    thresholds: { ...thresholds },
    images: sites.length === 0 ? 0 : sites.reduce((m, s) => Math.min(m, s.images), Number.POSITIVE_INFINITY),
    stages,
    total: aggregate('total', sites, thresholds),
    sites,
  };
}

function aggregate(stage: Stage | 'total', sites: SiteCollapse[], thresholds: CollapseThresholds): StageCollapse {
  let channels = 0;
  let dead = 0;
  let normChannels = 0;
  let paramCollapsed = 0;
  let normNonPositive = 0;
  for (const s of sites) {
    channels += s.channels;
    dead += s.dead;
    if (s.normFed) {
      normChannels += s.channels;
      paramCollapsed += s.paramCollapsed;
      normNonPositive += s.normNonPositive;
    }
  }
  return {
    stage,
    sites: sites.length,
    channels,
    dead,
    deadRatio: channels > 0 ? dead / channels : 0,
    normChannels,
    paramCollapsed,
    paramCollapsedRatio: normChannels > 0 ? paramCollapsed / normChannels : null,
    normNonPositive,
    normNonPositiveRatio: normChannels > 0 ? normNonPositive / normChannels : null,
    thresholds: { ...thresholds },
  };
}

/** Per stage: how many channels dead in `before` are alive in `after`, and how many alive ones died. */
export interface StageRevival {
  stage: Stage | 'total';
  channels: number;
  deadBefore: number;
  deadAfter: number;
  /** Dead in `before`, alive in `after`. */
  revived: number;
  /** revived / deadBefore, or null when nothing was dead. */
  revivedRatio: number | null;
  /** Alive in `before`, dead in `after`. */
  newlyDead: number;
}

/**
 * Compares two reports of the same architecture site by site (matched by name): which channels that were dead at the
 * start are alive at the end. Sites present in only one report are ignored, so the counts cover common sites only.
 */
export function compareDead(before: CollapseReport, after: CollapseReport): StageRevival[] {
  const afterByName = new Map(after.sites.map((s) => [s.name, s]));
  const rows = new Map<Stage | 'total', StageRevival>();
  const row = (stage: Stage | 'total'): StageRevival => {
    let r = rows.get(stage);
    if (r === undefined) {
      r = { stage, channels: 0, deadBefore: 0, deadAfter: 0, revived: 0, revivedRatio: null, newlyDead: 0 };
      rows.set(stage, r);
    }
    return r;
  };
  for (const b of before.sites) {
    const a = afterByName.get(b.name);
    if (a === undefined || a.channels !== b.channels) continue;
    const deadAfter = new Set(a.deadChannels);
    const deadBefore = new Set(b.deadChannels);
    let revived = 0;
    for (const c of b.deadChannels) if (!deadAfter.has(c)) revived++;
    let newlyDead = 0;
    for (const c of a.deadChannels) if (!deadBefore.has(c)) newlyDead++;
    for (const r of [row(b.stage), row('total')]) {
      r.channels += b.channels;
      r.deadBefore += b.dead;
      r.deadAfter += a.dead;
      r.revived += revived;
      r.newlyDead += newlyDead;
    }
  }
  const ordered: StageRevival[] = [];
  for (const stage of [...STAGES, 'total' as const]) {
    const r = rows.get(stage);
    if (r === undefined) continue;
    r.revivedRatio = r.deadBefore > 0 ? r.revived / r.deadBefore : null;
    ordered.push(r);
  }
  if (!rows.has('total')) ordered.push(row('total'));
  return ordered;
}
