/**
 * The one typed configuration object. It is resolved as defaults <- models/*.json <- CLI flags (see resolve.ts);
 * every field below has a default in defaults.ts, so a config file names only what it changes.
 */

/** The backbone norm layers psdet builds: the type, the validation, the CLI choices and the study axes come from it. */
export const NORM_KINDS = ['bn', 'frozen_bn', 'psbn'] as const;
export type NormKind = (typeof NORM_KINDS)[number];

/**
 * What a norm kind means for the two other norm fields, as `--norm KIND` sets them: BN and psBN normalise with
 * batch statistics in training and train gamma/beta; FrozenBN does neither (and allows nothing else).
 */
export function normPreset(kind: NormKind): { normAffineTrainable: boolean; normEval: boolean } {
  return kind === 'frozen_bn' ? { normAffineTrainable: false, normEval: true } : { normAffineTrainable: true, normEval: false };
}
export type BackendChoice = 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export type ResNetDepth = 18 | 34 | 50 | 101;
export type BoxLossKind = 'l1' | 'smooth_l1' | 'giou';
export type OptimizerKind = 'sgd' | 'adam' | 'adamw';
export type ScheduleKind = 'multistep' | 'cosine' | 'constant';

export interface ModelConfig {
  depth: ResNetDepth;
  /** Multiplies every backbone width (64..512 basic, 64..2048 bottleneck); 1 reproduces torchvision. */
  widthMultiplier: number;
  /** Which norm layer the backbone uses. */
  norm: NormKind;
  /** Whether gamma and beta of the backbone's norm layers are trained. */
  normAffineTrainable: boolean;
  /** Keep running statistics fixed and normalise with them in training too (mmdetection's norm_eval). */
  normEval: boolean;
  /** 0 = nothing frozen, 1 = stem, 2 = stem + res2, ..., 5 = the whole body. */
  frozenStages: number;
  /** psBN's fixed post-shift alpha: y = gamma * xhat + beta + alpha. */
  psbnAlpha: number;
  /** BN epsilon and momentum as PyTorch means them (running = (1 - m) * running + m * batch). */
  bnEpsilon: number;
  bnMomentum: number;
  /**
   * ImageNet backbone weights, or null for random init: torchvision:NAME (downloaded once and cached), an http(s)
   * URL, or a `.pth` / `.safetensors` file (torchvision names). See src/weights/source.ts.
   */
  pretrainedBackbone: string | null;
  fpnChannels: number;
  /** P6 from P5 (torchvision RetinaNet v1) or from C5 (the paper's variant). */
  p6Input: 'p5' | 'c5';
  headDepth: number;
  headChannels: number;
  numClasses: number;
  /** Base anchor size per level P3..P7. */
  anchorSizes: number[];
  /** Multipliers of the base size within a level. */
  anchorScales: number[];
  /** Anchor aspect ratios as h / w. */
  aspectRatios: number[];
  matcherHighThreshold: number;
  matcherLowThreshold: number;
  matcherAllowLowQuality: boolean;
  boxCoderWeights: [number, number, number, number];
  boxLoss: BoxLossKind;
  smoothL1Beta: number;
  focalAlpha: number;
  focalGamma: number;
  /** Initial foreground probability of the classification head (bias = -log((1 - p) / p)). */
  priorProbability: number;
  scoreThreshold: number;
  topkCandidates: number;
  nmsThreshold: number;
  detectionsPerImage: number;
}

export interface InputConfig {
  /** Shorter side in training; one value is drawn per batch when several are given (multi-scale). */
  trainMinSizes: number[];
  testMinSize: number;
  /** The longer side never exceeds this. */
  maxSize: number;
  /** Batches are padded to a multiple of this. */
  sizeDivisor: number;
  flipProbability: number;
  /** torchvision's ImageNet statistics, applied to 0..1 RGB. */
  pixelMean: [number, number, number];
  pixelStd: [number, number, number];
}

export interface DataConfig {
  /** COCO-layout root (annotations/, train2017/, val2017/), or null for the embedded shapes set. */
  root: string | null;
  trainSplit: string;
  valSplit: string;
  /**
   * A split given as any pair of paths (detectron2's `register_coco_instances`): the COCO annotation file and its
   * image folder. Both or neither per split; when set they replace `root` + split for that split.
   */
  trainAnnotationFile: string | null;
  trainImageDir: string | null;
  valAnnotationFile: string | null;
  valImageDir: string | null;
  /** Use only the first N training images (after sorting by id); 0 = all. */
  trainLimit: number;
  /** Use only the first N validation images; 0 = all. */
  valLimit: number;
  skipEmptyTrainImages: boolean;
  skipBadImages: boolean;
  /** Batches decoded ahead of the training step. */
  prefetch: number;
  /** Decoder worker threads (0 = decode on the main thread). */
  workers: number;
  /** Group images with the same aspect-ratio side (landscape / portrait) into batches. */
  aspectGrouping: boolean;
  /** An image of more pixels than this is shrunk while decoding, straight to its network size (src/data/transforms.ts). */
  maxDecodePixels: number;
  /** An image of more pixels than this is refused with one line naming it (sharp's own limit by default). */
  maxImagePixels: number;
}

export interface SolverConfig {
  optimizer: OptimizerKind;
  baseLr: number;
  momentum: number;
  weightDecay: number;
  /** Weight decay on norm gamma / beta. */
  weightDecayNorm: number;
  /** Weight decay on conv biases. */
  weightDecayBias: number;
  adamBetas: [number, number];
  adamEpsilon: number;
  /** Clip gradients by global norm; 0 = off. */
  clipGradNorm: number;
  batchSize: number;
  /** Scale baseLr by batchSize / referenceBatchSize (the linear scaling rule). */
  scaleLrWithBatch: boolean;
  referenceBatchSize: number;
  maxIter: number;
  schedule: ScheduleKind;
  /** Iterations at which a multi-step schedule multiplies the rate by gamma. */
  steps: number[];
  gamma: number;
  warmupIters: number;
  warmupFactor: number;
}

export interface TrainConfig {
  logPeriod: number;
  checkpointPeriod: number;
  /** Keep this many periodic checkpoints besides `last`. */
  keepCheckpoints: number;
  /** Evaluate on the val split every N iterations; 0 = only at the end. */
  evalPeriod: number;
  /** Collapsed-filter statistics every N iterations; 0 = only at the end. */
  collapsePeriod: number;
  /**
   * Explosion guard: stop before the update when the loss or the gradient norm exceeds this many times its running
   * median (over the last 100 iterations); 0 = off. Keeps a diverging run from overwriting its good checkpoints.
   */
  explosionFactor: number;
  /** Iterations seen before the explosion guard is armed. */
  explosionWarmupIters: number;
}

export interface CollapseConfig {
  /** Number of validation images in the fixed probe set. */
  probeImages: number;
  /** |gamma| below this counts towards the parameter view of collapse. */
  gammaThreshold: number;
  /** A channel is dead when its ReLU output is <= this everywhere on the probe. */
  deadThreshold: number;
}

export interface Config {
  /** A name for the run, shown in logs (the config file's base name by default). */
  name: string;
  seed: number;
  backend: BackendChoice;
  workDir: string;
  model: ModelConfig;
  input: InputConfig;
  data: DataConfig;
  solver: SolverConfig;
  train: TrainConfig;
  collapse: CollapseConfig;
}

/** A partial config as written in models/*.json: any field at any depth may be left out. */
export type ConfigOverrides = DeepPartial<Config>;

export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K];
};
