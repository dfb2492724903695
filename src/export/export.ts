import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import { writeSafetensors, type TensorToWrite } from '../weights/safetensors.js';
import { deploySpecOf, foldState, normConstantsOf, type NamedTensors } from './fold-state.js';
import { DeployRetinaNet, type DeploySpec } from './runtime.js';
import { writeTfjsDeployModel } from './tfjs-format.js';

/**
 * Folds a trained model's tensors (parameters and buffers by name, e.g. `moduleTensors(model)`) into a deploy model
 * and writes it to `outDir`: `model.safetensors` (folded float32 weights, the spec as JSON in the metadata) and
 * `model.json` + binary shards (tfjs weights manifest, the deploy spec under `psdet`). Checks first that the folded
 * weights make a complete deploy network. Returns the files written and the spec.
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
    const host: Record<string, TensorToWrite> = {};
    for (const name of Object.keys(folded).sort()) {
      const t = folded[name]!;
      host[name] = { shape: t.shape, values: (await t.data()) as Float32Array };
    }
    const safetensors = join(outDir, 'model.safetensors');
    writeSafetensors(safetensors, host, { format: 'psdet-retinanet-deploy', spec: JSON.stringify(spec) });
    const tfjsFiles = await writeTfjsDeployModel(outDir, spec, folded);
    return { files: [safetensors, ...tfjsFiles], spec };
  } finally {
    deploy.dispose();
  }
}
