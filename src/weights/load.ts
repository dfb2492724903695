import type { ModelConfig } from '../config/types.js';
import type { DownloadOptions } from './download.js';
import { loadPretrained, type PretrainedReport, type PretrainedTarget } from './pretrained.js';
import type { SafetensorsFile } from './safetensors.js';
import { fetchWeights, type LocalWeights } from './source.js';
import { readWeightsFile } from './state-dict.js';

/** A weights spec fetched (from the cache or the network) and read: the tensors, where they came from. */
export interface ReadWeights extends LocalWeights {
  weights: SafetensorsFile;
}

/** Fetches and reads what a `--weights` / `pretrainedBackbone` spec names (a state dict file, not a checkpoint dir). */
export async function readWeightsSpec(spec: string, opts: DownloadOptions = {}): Promise<ReadWeights> {
  const local = await fetchWeights(spec, opts);
  return { ...local, weights: readWeightsFile(local.path) };
}

/**
 * Loads read weights into a model built from `cfg`: backbone norm and psBN alpha from the config, the class head
 * mapped or re-initialised against `categories`. Returns the report (its `summary` is the log line).
 */
export function applyWeights(
  model: PretrainedTarget,
  read: ReadWeights,
  cfg: Pick<ModelConfig, 'norm' | 'psbnAlpha'>,
  extra: { scope?: 'backbone' | 'all'; categories?: { ids: readonly number[]; names: readonly string[] } | null } = {},
): PretrainedReport {
  return loadPretrained(model, read.weights, { file: read.path, norm: cfg.norm, psbnAlpha: cfg.psbnAlpha, ...extra });
}
