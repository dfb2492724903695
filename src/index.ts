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
  CollapseProbe, buildReport, compareDead, DEFAULT_THRESHOLDS,
  type CollapseReport, type CollapseThresholds, type SiteCollapse, type StageCollapse, type StageRevival,
} from './analysis/collapse.js';
export { measureCollapse, recordCollapse, type ProbeableModel } from './analysis/measure.js';
export { appendCollapseLog, readCollapseLog, collapseLogEntry, type CollapseLogEntry } from './analysis/collapse-log.js';
export { formatCollapseTable, formatRevivalTable } from './analysis/table.js';
export { lineChartSvg, barChartSvg, svgToPng, writeChart, type LineChartSpec, type BarChartSpec } from './analysis/plots.js';
export {
  expandGrid, runGrid, writeGridReport, runRevival, writeRevivalReport,
  type GridSpec, type StudyRun, type RunResult, type RunTraining, type TrainingResult, type RevivalResult,
} from './analysis/study.js';
