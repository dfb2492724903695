#!/usr/bin/env node
/**
 * export-det: fold a checkpoint's norm layers into its convolutions and write a deploy model (model.safetensors,
 * and model.json + shards that @tensorflow/tfjs loads in a browser).
 *
 *   export-det CHECKPOINT --out DIR [--config FILE] [--set key=value ...] [--verbose]
 *
 * Bad input (missing checkpoint, a config that does not fit the weights, an --out that cannot be written): one
 * line on stderr, exit code 2.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Command } from 'commander';
import { selectBackend } from '../backend/index.js';
import { parseAssignments } from '../config/resolve.js';
import { exportDeployModel } from '../export/export.js';
import { categoriesOf, checkpointConfig, resolveModelSource } from '../infer/load.js';
import { buildRetinaNet } from '../model/build.js';
import { loadModelWeights, moduleTensors } from '../train/checkpoint.js';
import { InputError } from '../util/errors.js';
import { exitOnError, prepareOutputDir } from './exit.js';
import { detectorFromWeights, isStateDictSpec, WEIGHTS_HELP } from './weights.js';

async function main(argv: string[]): Promise<void> {
  const program = new Command('export-det')
    .description('Fold BN / FrozenBN / psBN into the convolutions and write a deploy model (safetensors + tfjs weights manifest)')
    .argument('<checkpoint>', `checkpoint directory (model_NNNNNNN), a checkpoints/ or work dir (its latest), or ${WEIGHTS_HELP.replace('a psdet checkpoint, ', '')}`)
    .requiredOption('--out <dir>', 'output directory')
    .option('--config <file>', "model config (default: the run's config.json beside the checkpoint)")
    .option('--set <key=value>', 'override a config field (repeatable)', (v: string, acc: string[]) => [...acc, v], [])
    .option('--verbose', 'also print what the GPU drivers wrote while the backend was chosen')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  program.parse(argv);
  const flags = program.opts<{ out: string; config?: string; set: string[]; verbose?: boolean }>();
  const [checkpoint] = program.processedArgs as [string];
  tf.env().set('PROD', true);
  outDir = flags.out;
  prepareOutputDir(flags.out);
  if (isStateDictSpec(checkpoint)) {
    await selectBackend('cpu');
    const loaded = await detectorFromWeights(checkpoint, { configPath: flags.config ?? null, overrides: [parseAssignments(flags.set)], categories: null, command: 'export-det' });
    try {
      const { files } = await exportDeployModel(moduleTensors(loaded.model!), loaded.config, loaded.categories, flags.out);
      console.log(`exported ${loaded.description}\n(${loaded.config.model.norm} folded) to:\n${files.map((f) => `  ${f}`).join('\n')}`);
    } finally {
      loaded.dispose();
    }
    return;
  }
  const source = resolveModelSource(checkpoint);
  if (source.kind !== 'checkpoint') throw new InputError(`${checkpoint}: already a deploy model (model.json)`);
  const { config, source: configSource } = checkpointConfig(source.dir, flags.config ?? null, [parseAssignments(flags.set)]);
  // Folding is exact arithmetic on the weights: the cpu backend, whatever the machine has.
  const backend = await selectBackend('cpu');
  if (flags.verbose === true) for (const line of backend.driverMessages) console.error(line);
  const model = buildRetinaNet(config.model);
  try {
    try {
      loadModelWeights(source.dir, model);
    } catch (err) {
      if (err instanceof InputError) throw new InputError(`${err.message} (config ${configSource} does not match these weights)`);
      throw err;
    }
    const { files } = await exportDeployModel(moduleTensors(model), config, categoriesOf(config, configSource), flags.out);
    console.log(`exported ${source.dir} (${config.model.norm} folded) to:\n${files.map((f) => `  ${f}`).join('\n')}`);
  } finally {
    model.dispose();
  }
}

/** The --out directory, once known: named when a write fails without a path (a full disk). */
let outDir: string | undefined;

main(process.argv).catch((err: unknown) => exitOnError('export-det', err, outDir));
