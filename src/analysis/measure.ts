import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { appendCollapseLog } from './collapse-log.js';
import { CollapseProbe, type CollapseReport, type CollapseThresholds } from './collapse.js';
import type { ActivationProbe } from './probe.js';

/** Anything whose forward pass shows its ReLU inputs to a probe (RetinaNet, its backbone). */
export interface ProbeableModel {
  forward(images: tf.Tensor4D, opts: { training: boolean; probe?: ActivationProbe }): unknown;
}

/**
 * One probe pass: every batch goes through `model.forward` in inference mode (running statistics, as the network
 * is used) with a fresh CollapseProbe; the outputs are freed at once. Each batch tensor ([N, H, W, 3], normalised)
 * is disposed after its pass. Returns the per-stage report; leaves no tensor behind.
 *
 * Padding: images of different sizes padded into one batch add padded positions to every channel's max. Batches
 * of one image (or of equal sizes) avoid that; the probe loader of the CLIs uses one image per batch.
 */
export async function measureCollapse(
  model: ProbeableModel,
  batches: Iterable<tf.Tensor4D> | AsyncIterable<tf.Tensor4D>,
  thresholds: Partial<CollapseThresholds> = {},
): Promise<CollapseReport> {
  const probe = new CollapseProbe(thresholds);
  try {
    for await (const images of batches) {
      try {
        tf.tidy(() => {
          model.forward(images, { training: false, probe });
        });
      } finally {
        images.dispose();
      }
    }
    return await probe.summarizeAsync();
  } finally {
    probe.dispose();
  }
}

/**
 * What the trainer calls every `train.collapsePeriod` iterations and at the end: a probe pass, then one line
 * appended to `<workDir>/collapse.jsonl`. Returns the report (print it with formatCollapseTable).
 */
export async function recordCollapse(
  model: ProbeableModel,
  batches: Iterable<tf.Tensor4D> | AsyncIterable<tf.Tensor4D>,
  opts: { workDir: string; iteration: number; thresholds?: Partial<CollapseThresholds> },
): Promise<CollapseReport> {
  const report = await measureCollapse(model, batches, opts.thresholds ?? {});
  appendCollapseLog(join(opts.workDir, 'collapse.jsonl'), opts.iteration, report);
  return report;
}
