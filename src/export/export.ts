import { mkdirSync } from 'node:fs';
import type { Config } from '../config/types.js';
import type { Module } from '../model/module.js';
import { deploySpecOf, foldState, normConstantsOf, type NamedTensors } from './fold-state.js';
import { DeployRetinaNet, type DeploySpec } from './runtime.js';
import { writeTfjsDeployModel } from './tfjs-format.js';

/**
 * Folds a trained model's tensors (parameters and buffers by name) into a deploy model and writes it to `outDir`:
 * `model.json` + binary shards (tfjs weights manifest, the deploy spec under `psdet`). Checks first that the
 * folded weights make a complete deploy network. Returns the files written and the spec.
 */
export async function exportDeployModel(
  tensors: NamedTensors,
  config: Config,
  categories: { ids: number[]; names: string[] },
  outDir: string,
): Promise<{ files: string[]; spec: DeploySpec }> {
  const spec = deploySpecOf(config, categories);
  const folded = foldState(tensors, normConstantsOf(config.model));
  // The constructor names the first missing conv; the model owns `folded` from here on.
  const deploy = new DeployRetinaNet(spec, folded);
  try {
    mkdirSync(outDir, { recursive: true });
    const files = await writeTfjsDeployModel(outDir, spec, folded);
    return { files, spec };
  } finally {
    deploy.dispose();
  }
}

/** A module's parameters and buffers by name (the module's own tensors: do not dispose). */
export function moduleState(model: Module): NamedTensors {
  const out: NamedTensors = {};
  for (const p of model.params()) out[p.name] = p.variable;
  for (const b of model.buffers()) out[b.name] = b.variable;
  return out;
}
