// psdet public API: re-exports only.
export * from './config/types.js';
export { defaultConfig } from './config/defaults.js';
export { resolveConfig, parseAssignments, mergeOverrides } from './config/resolve.js';
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
export { upsampleNearest2x } from './model/ops.js';
export type { Module, NamedParam, NamedBuffer, ParamKind } from './model/module.js';
export type { ActivationProbe, ReluSite, NormView, Stage } from './analysis/probe.js';
export { STAGES } from './analysis/probe.js';
export type { Sample, Batch } from './data/types.js';
export { Rng, type RngState } from './util/rng.js';
export { InputError } from './util/errors.js';
