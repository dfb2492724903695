import type * as tf from '@tensorflow/tfjs-core';
import type { CollapseConfig } from '../config/types.js';
import type { RetinaNet } from '../model/retinanet.js';

/** What the job keeps of one collapse measurement: the JSONL record and the printed table. */
export interface CollapseSnapshot {
  record: Record<string, unknown>;
  table: string;
}

/**
 * Collapsed-filter statistics over the probe batches. Placeholder until src/analysis/collapse.ts lands in main:
 * returns null (no record, no table) and frees the batches.
 */
export async function measureCollapseSnapshot(
  _model: RetinaNet,
  batches: AsyncIterable<tf.Tensor4D>,
  _cfg: CollapseConfig,
  _iteration: number,
): Promise<CollapseSnapshot | null> {
  for await (const images of batches) images.dispose();
  return null;
}
