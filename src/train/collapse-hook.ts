import type * as tf from '@tensorflow/tfjs-core';
import { collapseLogEntry } from '../analysis/collapse-log.js';
import { measureCollapse } from '../analysis/measure.js';
import { formatCollapseTable } from '../analysis/table.js';
import type { CollapseConfig } from '../config/types.js';
import type { RetinaNet } from '../model/retinanet.js';

/** What the job keeps of one collapse measurement: the JSONL record and the printed table. */
export interface CollapseSnapshot {
  record: Record<string, unknown>;
  table: string;
}

/**
 * Collapsed-filter statistics over the probe batches (src/analysis/collapse.ts): the collapse.jsonl record
 * (per-stage figures and thresholds) and the table per stage. The batches are disposed.
 */
export async function measureCollapseSnapshot(
  model: RetinaNet,
  batches: AsyncIterable<tf.Tensor4D>,
  cfg: CollapseConfig,
  iteration: number,
): Promise<CollapseSnapshot | null> {
  const report = await measureCollapse(model, batches, { deadThreshold: cfg.deadThreshold, gammaThreshold: cfg.gammaThreshold });
  const { iteration: _iteration, ...record } = collapseLogEntry(iteration, report);
  return {
    record: record as unknown as Record<string, unknown>,
    table: formatCollapseTable(report, `collapsed filters per stage${iteration >= 0 ? ` at iteration ${iteration}` : ''}`),
  };
}
