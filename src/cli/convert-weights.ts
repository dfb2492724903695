#!/usr/bin/env node
/**
 * convert-weights: a PyTorch checkpoint (.pth / .pt, either torch.save format) to safetensors, in TypeScript.
 *
 *   convert-weights IN.pth OUT.safetensors
 *   convert-weights torchvision:resnet50 resnet50.safetensors
 *
 * Tensor names and values are kept as they are (torchvision names; psdet's loaders map them), element types too
 * (float16 / bfloat16 stay 16-bit); a state dict nested under "model" / "state_dict" is unwrapped. IN may also be
 * torchvision:NAME or an http(s) URL (downloaded into the cache first). Bad input: one line on stderr, exit 2.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Command } from 'commander';
import { InputError } from '../util/errors.js';
import { serializeEncodedSafetensors } from '../weights/safetensors.js';
import { fetchWeights } from '../weights/source.js';
import { readTorchCheckpoint } from '../weights/state-dict.js';
import { exitOnError } from './exit.js';
import { downloadProgress } from './weights.js';

async function main(argv: string[]): Promise<void> {
  const program = new Command('convert-weights')
    .description('Convert a PyTorch checkpoint (.pth) to safetensors: names, values and element types unchanged')
    .argument('<in>', 'PyTorch checkpoint: a .pth / .pt file, torchvision:NAME, or an http(s) URL')
    .argument('<out>', 'safetensors file to write')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  program.parse(argv);
  const [input, out] = program.processedArgs as [string, string];
  const local = await fetchWeights(input, downloadProgress('convert-weights'));
  const sd = readTorchCheckpoint(local.path);
  const bytes = serializeEncodedSafetensors(sd.tensors, { source: basename(local.path), format: 'pt' });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, out);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new InputError(`${out}: cannot write (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const dtypes = [...new Set([...sd.tensors.values()].map((t) => t.dtype))].join(', ');
  console.log(`${out}: ${sd.tensors.size} tensors (${dtypes}) from ${local.label}${sd.nestedUnder === null ? '' : `, unwrapped from "${sd.nestedUnder}"`}`);
}

main(process.argv).catch((err: unknown) => exitOnError('convert-weights', err));
