// psdet public API: re-exports only.
export * from './config/types.js';
export { defaultConfig } from './config/defaults.js';
export { resolveConfig, parseAssignments, mergeOverrides } from './config/resolve.js';
export { selectBackend, type BackendInfo } from './backend/index.js';
export type { Module, NamedParam, NamedBuffer, ParamKind } from './model/module.js';
export type { ActivationProbe, ReluSite, NormView, Stage } from './analysis/probe.js';
export { STAGES } from './analysis/probe.js';
export type { Sample, Batch } from './data/types.js';
export { Rng, type RngState } from './util/rng.js';
export { InputError } from './util/errors.js';
// Pure detection parts (boxes/) and the RetinaNet losses and post-processing.
export { boxArea, pairwiseIou, pairwiseIoa } from './boxes/iou.js';
export {
  cellAnchors,
  generateAnchors,
  anchorsPerLevel,
  anchorsPerLocation,
  levelSizes,
  splitLevels,
  roundHalfEven,
  type AnchorOptions,
} from './boxes/anchors.js';
export { encodeBoxes, decodeBoxes, BBOX_XFORM_CLIP, type BoxCoderWeights } from './boxes/box-coder.js';
export { matchAnchors, BELOW_LOW_THRESHOLD, BETWEEN_THRESHOLDS, type MatcherOptions } from './boxes/matcher.js';
export {
  assignTargets,
  assignBatchTargets,
  BACKGROUND,
  IGNORE,
  CROWD_IOA_THRESHOLD,
  type GroundTruth,
  type AnchorTargets,
  type BatchTargets,
  type TargetConfig,
  type AssignOptions,
} from './boxes/targets.js';
export { nms, batchedNms } from './boxes/nms.js';
export {
  sigmoidFocalLoss,
  boxRegressionLoss,
  retinanetLosses,
  giouLoss,
  decodeBoxesTf,
  targetTensors,
  type LossConfig,
  type LossInputs,
  type BoxLossOptions,
} from './model/losses.js';
export {
  postprocessDetections,
  resizeBoxesToOriginal,
  unscaleBoxes,
  xyxyToXywh,
  type LevelOutputs,
  type Detections,
  type PostprocessConfig,
} from './model/postprocess.js';
