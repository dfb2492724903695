import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/types.js';
import { buildRetinaNet } from '../../src/model/build.js';
import { moduleTensors } from '../../src/train/checkpoint.js';
import { encodeTensors } from '../../src/train/tensor-file.js';
import { Rng } from '../../src/util/rng.js';

/**
 * A tiny random RetinaNet (ResNet-18 at 1/16 width, 80 COCO classes, 64 px) saved the way a run holds it:
 * `work/config.json` and `work/checkpoints/model_0000001/model.safetensors`. The prior is high so that a random
 * model still scores some boxes above the thresholds. Returns the checkpoint directory.
 */
export async function writeTinyCheckpoint(work: string, edit: (cfg: Config) => void = () => undefined): Promise<string> {
  const cfg = defaultConfig();
  Object.assign(cfg.model, { depth: 18, widthMultiplier: 1 / 16, norm: 'frozen_bn', fpnChannels: 16, headChannels: 16, headDepth: 1 });
  cfg.model.priorProbability = 0.2;
  cfg.input.testMinSize = 64;
  cfg.input.maxSize = 96;
  edit(cfg);
  const ckpt = join(work, 'checkpoints', 'model_0000001');
  mkdirSync(ckpt, { recursive: true });
  writeFileSync(join(work, 'config.json'), JSON.stringify(cfg));
  const model = buildRetinaNet(cfg.model, new Rng(0));
  writeFileSync(join(ckpt, 'model.safetensors'), await encodeTensors(moduleTensors(model)));
  model.dispose();
  return ckpt;
}
