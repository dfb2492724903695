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
export {
  cocoEvaluate,
  evaluateImages,
  accumulate,
  summarize,
  perCategory,
  resolveParams,
  defaultParams,
  type GroundTruthSet,
  type GtColumns,
  type DetectionSet,
  type EvalParams,
  type CocoEvalResult,
  type CategoryResult,
  type Accumulation,
} from './eval/cocoeval.js';
export { readGroundTruth, readDetections, groundTruthFromJson, detectionsFromJson, type LoadedGroundTruth } from './eval/coco-json.js';
export { type CocoDetection, xyxyToXywh, detectionsForImage, toDetectionSet, formatResultsJson, writeResultsJson } from './eval/results.js';
export { summaryLines, perCategoryTable, evalReport, formatReportJson, type EvalReport } from './eval/report.js';
