// psdet public API: re-exports only.
export * from './config/types.js';
export { defaultConfig } from './config/defaults.js';
export { resolveConfig, parseAssignments, mergeOverrides, configWarnings } from './config/resolve.js';
export {
  selectBackend,
  describeBackend,
  usableBackends,
  registerGradients,
  installRepairs,
  removeRepairs,
  installedRepairs,
  readFloat32,
  readScalar,
  canReadSync,
  AUTO_ORDER,
  REPAIRS,
  type BackendInfo,
  type KernelRepair,
} from './backend/index.js';
export { isWasmHeapExhausted, wasmHeapMessage, WASM_HEAP_LIMIT_BYTES } from './backend/wasm-heap.js';
export { probeWebGpu, type WebGpuProbe, type GpuAdapterFacts } from './backend/webgpu.js';
export { upsampleNearest2x } from './model/ops.js';
export type { Module, NamedParam, NamedBuffer, ParamKind } from './model/module.js';
export type { ActivationProbe, ReluSite, NormView, Stage } from './analysis/probe.js';
export { STAGES } from './analysis/probe.js';
export type { Sample, Batch } from './data/types.js';
export { Rng, type RngState } from './util/rng.js';
export { InputError } from './util/errors.js';
export { EnvironmentError } from './util/env-errors.js';
export { CocoDataset, cocoSplitPaths, type ImageRecord, type Category, type ImageAnnotations, type DatasetStats, type CocoLoadOptions } from './data/coco.js';
export {
  decodeImage,
  resizedSize,
  transformBoxes,
  padTo,
  DEFAULT_MAX_DECODE_PIXELS,
  DEFAULT_MAX_IMAGE_PIXELS,
  type DecodeRequest,
  type DecodedImage,
} from './data/transforms.js';
export { DataLoader, BatchPlanner, loadSample, assembleSample, loaderOptionsFromConfig, type LoaderOptions, type LoaderState, type BadImageWarning, type SampleOptions, type PlannedBatch } from './data/loader.js';
export { InlineDecoder, WorkerDecoder, makeDecoder, type Decoder } from './data/decoder.js';
export { batchToTensor } from './data/tensor.js';
export { normalisationTable, normalisedFloats, type Normalisation } from './data/normalise.js';
export { ensureShapesDataset, generateShapesSplit, SHAPE_CLASSES, DEFAULT_SHAPES_OPTIONS, type ShapesOptions, type ShapeClass } from './data/shapes.js';
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
export { nms, batchedNms, PER_CLASS_NMS_ABOVE, type BatchedNmsMethod } from './boxes/nms.js';
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
  type LevelOutputs,
  type Detections,
  type PostprocessConfig,
} from './model/postprocess.js';
// COCO evaluation (pycocotools-exact), results JSON and reports. (xyxyToXywh comes from model/postprocess.)
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
export { type CocoDetection, detectionsForImage, toDetectionSet, formatResultsJson, writeResultsJson } from './eval/results.js';
export { summaryLines, perCategoryTable, evalReport, formatReportJson, type EvalReport } from './eval/report.js';
// Error analysis (C75, C50, Loc, Sim, Oth, BG, FN), its table and its figure spec (render with src/util/charts.ts).
export { analyzeErrors, ANALYSIS_STEPS, type ErrorAnalysis, type CategoryAnalysis, type StepCurves, type AnalysisOptions } from './eval/analyze.js';
export { analysisChartSpec, analysisTable } from './eval/analyze-plot.js';
// Networks (norm layers, ResNet, FPN, RetinaNet head and detector) and weights.
export { BatchNorm, PsBatchNorm, FrozenBatchNorm, makeNorm, DEFAULT_NORM_OPTIONS, type NormLayer, type NormOptions } from './model/norm.js';
export { Conv2d, type Conv2dOptions, type ConvInit } from './model/conv.js';
export { maxPool3x3s2, upsampleNearestTo } from './model/ops.js';
export { ResNet, Stem, BasicBlock, Bottleneck, ResStage, RESNET_LAYOUT, scaledWidth, type ResNetOptions, type NormSpec, type BackboneFeatures, type ForwardContext } from './model/resnet.js';
export { Fpn, type FpnOptions, type PyramidFeatures } from './model/fpn.js';
export { RetinaNetHead, type RetinaNetHeadOptions } from './model/retinanet-head.js';
export { RetinaNet, featureSide, type RetinaNetOutputs, type ForwardOptions, type RetinaNetSettings, type ImageTargets, type LossOptions } from './model/retinanet.js';
export { buildRetinaNet, buildBackbone, normSpecOf } from './model/build.js';
export { parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors, type SafetensorsFile, type StoredTensor, type TensorToWrite, type SafetensorsDType } from './weights/safetensors.js';
export { loadTorchvisionWeights, toTorchvisionTensors, namedTensors, torchvisionNames, type TorchvisionLayout, type LoadReport, type LoadOptions } from './weights/torchvision.js';
export { parseTorchCheckpoint, looksLikeTorchCheckpoint, type RawTensor, type RawStateDict } from './weights/pth.js';
export { readTorchCheckpoint, readWeightsFile, decodeStateDict } from './weights/state-dict.js';
export { unpickle, type PickleValue, type UnpickleOptions } from './weights/pickle.js';
export { CATALOGUE, catalogueEntry, TORCHVISION_COCO_LABELS, type CatalogueEntry } from './weights/catalogue.js';
export { cachedDownload, cacheRoot, cachePath, type DownloadOptions, type Downloaded } from './weights/download.js';
export { parseWeightsSpec, fetchWeights, type WeightsSpec, type LocalWeights } from './weights/source.js';
export { loadPretrained, detectLayout, mapCocoClassifier, type PretrainedOptions, type PretrainedReport, type WeightsLayout } from './weights/pretrained.js';
export { readWeightsSpec, applyWeights, type ReadWeights } from './weights/load.js';
export {
  CollapseProbe, buildReport, compareDead, DEFAULT_THRESHOLDS,
  type CollapseReport, type CollapseThresholds, type SiteCollapse, type StageCollapse, type StageRevival,
} from './analysis/collapse.js';
export { measureCollapse, recordCollapse, type ProbeableModel } from './analysis/measure.js';
export { appendCollapseLog, readCollapseLog, collapseLogEntry, latestAttempt, type CollapseLogEntry } from './analysis/collapse-log.js';
export { formatCollapseTable, formatRevivalTable } from './analysis/table.js';
export { probeBatches } from './analysis/probe-set.js';
export { shiftBetaForPsbn } from './analysis/psbn-shift.js';
export { induceCollapse, type InduceOptions } from './analysis/induce-collapse.js';
export { ratioLinesSpec, ratioBarsSpec, writeChart, type RatioLinesChart, type RatioBarsChart, type RatioSeries } from './analysis/plots.js';
export { chartToSvg, renderChart, svgToPng, type ChartSpec } from './util/charts.js';
export {
  expandGrid, runGrid, writeGridReport, runRevival, writeRevivalReport, backboneDeadRatio,
  type GridSpec, type StudyRun, type RunResult, type RunTraining, type TrainingResult, type RevivalResult,
} from './analysis/study.js';
// Inference, drawing, norm folding and the deploy model.
export { drawDetections, detectionsSvg, classColour, type ImageDetections, type DrawOptions } from './infer/draw.js';
export { runInference, prepareImage, imagesToTensor, toOriginal, toCocoResults, filterScore, drawnPath, type Detector, type InferOptions, type InferSummary, type InferFailure, type DecodeLimits, type PreparedImage } from './infer/run.js';
export { listImages, IMAGE_EXTENSIONS, type ImageInput } from './infer/inputs.js';
export { loadDetector, resolveModelSource, checkpointConfig, categoriesOf, type LoadedDetector, type LoadDetectorOptions, type ModelSource } from './infer/load.js';
export { detectionsFromHeads, type DetectConfig } from './infer/detect.js';
export { COCO_CATEGORIES, defaultCategories } from './infer/coco-categories.js';
export { foldNormIntoConv, applyNormAtInference, type NormAtInference, type FoldedConv } from './model/fold.js';
export { foldState, normNameOf, normConstantsOf, deploySpecOf, type NamedTensors, type NormConstants } from './export/fold-state.js';
export { DeployRetinaNet, loadDeployModel, prepareDeployInput, requiredConvs, type DeploySpec, type DeployWeights, type HeadOutputs } from './export/runtime.js';
export { writeTfjsDeployModel, readTfjsDeployModel, SHARD_BYTES, type DeployModelJson } from './export/tfjs-format.js';
export { exportDeployModel } from './export/export.js';
// Training: optimizers, schedules, the loop, checkpoints, evaluation of a split, the train-det job.
export { Optimizer, paramGroups, globalNorm, clipGradients, type OptimizerSettings, type OptimizerState, type ParamGroup, type GradMap } from './train/optimizer.js';
export { learningRate, scaledBaseLr, warmupMultiplier, type ScheduleSettings } from './train/schedule.js';
export {
  Trainer, TrainingFailedError, NonFiniteLossError, ExplosionError, formatLogLine, formatDuration,
  type BatchSource, type LossFn, type IterationRecord, type TrainerHooks, type TrainerParts, type TrainResult,
} from './train/trainer.js';
export {
  saveCheckpoint, loadCheckpoint, loadModelWeights, latestCheckpoint, listCheckpoints, resolveResume, checkpointName,
  CHECKPOINT_FORMAT, type TrainingState,
} from './train/checkpoint.js';
export { evaluateDetector, toOriginalPixels, type Detector as SplitDetector, type EvaluationResult, type EvaluateOptions } from './train/evaluate.js';
export { runTraining, type JobOptions, type JobReporter, type JobResult } from './train/job.js';
export { openRunDir, ensureWorkDir, type OpenRun, type RunOpenOptions } from './train/run-dir.js';
export { acquireRunLock, LOCK_FILE, type RunLock, type LockOwner } from './train/run-lock.js';
export { ExplosionGuard, type Explosion, type GuardState } from './train/explosion-guard.js';
export { planResume, changedFields, type FieldChange, type ResumePlan } from './config/resume.js';
export { writeRunReport, RunReportWriter, type RunReportInput, type ReportEvaluation } from './report/run-report.js';
export { writeStudyReport, type StudyArm } from './report/study-report.js';
export { runCurves, curveSpec, writeCurves, smooth, type CurveSet, type CurveSeries } from './report/curves.js';
export { layoutTags, tagFontSize } from './infer/draw.js';
