import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CollapseLogEntry, CollapseLogStage } from '../../src/analysis/collapse-log.js';

/** A train record of metrics.jsonl at `iteration` with the given loss terms. */
export function trainRecord(iteration: number, lossCls: number, lossBox: number): Record<string, unknown> {
  return {
    type: 'train',
    iteration,
    maxIter: 100,
    lr: 0.001 * Math.min(1, iteration / 40),
    time: 0.5,
    dataTime: 0.01,
    forwardBackwardTime: 0.4,
    optimizerTime: 0.05,
    eta: 10,
    losses: { loss_cls: lossCls, loss_box: lossBox, loss: lossCls + lossBox },
    gradNorm: 1.5,
    memMiB: 300,
    numTensors: 100,
    tensorMiB: 20,
  };
}

function stage(name: CollapseLogStage['stage'], fed: [number, number], free: [number, number]): CollapseLogStage {
  const channels = fed[0] + free[0];
  const dead = fed[1] + free[1];
  return {
    stage: name,
    sites: 2,
    channels,
    dead,
    deadRatio: dead / channels,
    normChannels: fed[0],
    paramCollapsed: 0,
    paramCollapsedRatio: 0,
    normNonPositive: 0,
    normNonPositiveRatio: 0,
    bySiteKind: { normFed: { channels: fed[0], dead: fed[1] }, normFree: { channels: free[0], dead: free[1] } },
  };
}

/** A collapse.jsonl entry with two stages: res2 (norm-fed 16 ch, norm-free 8 ch) and fpn (norm-free only). */
export function collapseEntry(iteration: number, res2Dead: number): CollapseLogEntry {
  const stages = [stage('res2', [16, res2Dead], [8, 0]), { ...stage('fpn', [0, 0], [32, 4]), normChannels: 0, paramCollapsedRatio: null, normNonPositiveRatio: null }];
  return {
    iteration,
    images: 2,
    thresholds: { deadThreshold: 0, gammaThreshold: 0.01 },
    stages,
    total: { ...stage('res2', [16, res2Dead], [40, 4]), stage: 'total' },
  };
}

/**
 * A work dir as a finished run leaves it: config.json, log.txt, metrics.jsonl with 5 train records (iterations
 * 20..100) and 2 evaluations (50, 100), collapse.jsonl with 2 entries (50, 100).
 */
export function fakeRunDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'psdet-report-'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ name: 'tiny', model: { depth: 18, norm: 'psbn' }, solver: { maxIter: 100 } }));
  writeFileSync(
    join(dir, 'log.txt'),
    ['command: train-det', 'date: 2026-01-01T00:00:00.000Z', 'node: v20', 'cpu: 2 x test', 'tfjs-core: 4.22.0, backend: cpu (pure JavaScript)', 'iter 20/100 ...'].join('\n') + '\n',
  );
  const metrics = [
    trainRecord(20, 1.2, 0.8),
    trainRecord(40, 1.0, 0.7),
    trainRecord(50, 0.9, 0.6),
    { type: 'eval', iteration: 50, AP: 0.1, AP50: 0.2, AP75: 0.05, APs: -1, APm: 0.1, APl: 0.12 },
    trainRecord(80, 0.8, 0.5),
    trainRecord(100, 0.7, 0.5),
    { type: 'eval', iteration: 100, AP: 0.2, AP50: 0.4, AP75: 0.15, APs: -1, APm: 0.2, APl: 0.25 },
  ];
  writeFileSync(join(dir, 'metrics.jsonl'), metrics.map((m) => `${JSON.stringify(m)}\n`).join(''));
  writeFileSync(join(dir, 'collapse.jsonl'), [collapseEntry(50, 2), collapseEntry(100, 4)].map((e) => `${JSON.stringify(e)}\n`).join(''));
  return dir;
}
