/**
 * The curves and the report page of a run, written into its work dir: `<workDir>/curves/*.svg|png|json` and
 * `<workDir>/report.html`. Everything comes from the work dir's records (metrics.jsonl, collapse.jsonl,
 * config.json, log.txt) plus, when given, the latest evaluation held in memory (per-class AP, detections to draw).
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Category } from '../data/coco.js';
import type { CocoDetection } from '../eval/results.js';
import type { CategoryResult } from '../eval/cocoeval.js';
import { drawDetections, type ImageDetections } from '../infer/draw.js';
import { writeAtomic, writeCurves } from './curves.js';
import { runPageHtml, type ClassApRow, type RunPageParts } from './page.js';
import { PER_CLASS_FILE, readEnvironmentLines, readRunConfig, readRunRecords } from './records.js';

/** The latest evaluation of the run, as the trainer's evaluate hook has it. */
export interface ReportEvaluation {
  iteration: number;
  /** The 12 COCO stats by name; added to the curves when metrics.jsonl does not hold them yet. */
  stats: Record<string, number>;
  perCategory: readonly CategoryResult[];
  detections: readonly CocoDetection[];
}

export interface RunReportInput {
  workDir: string;
  /** The val categories (COCO ids and names), in contiguous-label order. */
  categories: readonly Category[];
  /** Val images that can be drawn: id and file path (the first `sampleImages` with detections are drawn). */
  valImages: ReadonlyArray<{ id: number; path: string }>;
  evaluation?: ReportEvaluation | null;
  /** Sample images on the page (default 6), detections drawn at or above `sampleScore` (default 0.3). */
  sampleImages?: number;
  sampleScore?: number;
}

/** Side of the sample images on the page, in pixels (small images are scaled up to it, large ones down). */
export const SAMPLE_SIDE = 320;

/** Writes the curves and `report.html` of a run; returns the page's path. */
export async function writeRunReport(input: RunReportInput): Promise<string> {
  const { workDir } = input;
  const records = readRunRecords(workDir);
  const evaluation = input.evaluation ?? null;
  // The trainer appends an evaluation to metrics.jsonl after its hook returns: add the one in hand.
  if (evaluation !== null && evaluation.iteration > (records.evals.at(-1)?.iteration ?? -Infinity)) {
    records.evals.push({ iteration: evaluation.iteration, stats: evaluation.stats });
  }
  const charts = await writeCurves(join(workDir, 'curves'), records);
  const config = readRunConfig(workDir);
  const names = new Map(input.categories.map((c) => [c.id, c.name]));
  const perClass: ClassApRow[] = (evaluation?.perCategory ?? []).map((r) => ({
    name: names.get(r.categoryId) ?? String(r.categoryId),
    ap: r.ap,
    ap50: r.ap50,
    ap75: r.ap75,
  }));
  const lastEval = records.evals.at(-1) ?? null;
  const parts: RunPageParts = {
    title: `psdet run ${String(config?.name ?? workDir)}`,
    workDir,
    generatedAt: new Date().toISOString(),
    configSummary: configSummary(config),
    config,
    environment: readEnvironmentLines(workDir),
    charts,
    finalEval: lastEval,
    perClass,
    collapse: records.collapse.at(-1) ?? null,
    samples: evaluation === null ? [] : await drawSamples(input, evaluation),
  };
  const path = join(workDir, 'report.html');
  writeAtomic(path, runPageHtml(parts));
  return path;
}

/** The config fields a reader looks for first, as `key: value` text. */
export function configSummary(config: Record<string, unknown> | null): Array<[string, string]> {
  if (config === null) return [];
  const pick = (path: string): string => {
    const value = path.split('.').reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), config);
    return value === undefined ? '-' : typeof value === 'string' ? value : JSON.stringify(value);
  };
  return [
    ['model', `ResNet-${pick('model.depth')} x${pick('model.widthMultiplier')}, FPN ${pick('model.fpnChannels')} ch, head ${pick('model.headDepth')} x ${pick('model.headChannels')} ch, ${pick('model.numClasses')} classes`],
    ['norm', `${pick('model.norm')} (affine trainable ${pick('model.normAffineTrainable')}, eval mode ${pick('model.normEval')}, frozen stages ${pick('model.frozenStages')}, psBN alpha ${pick('model.psbnAlpha')})`],
    ['pretrained backbone', pick('model.pretrainedBackbone')],
    ['input', `train min sizes ${pick('input.trainMinSizes')}, test ${pick('input.testMinSize')}, max ${pick('input.maxSize')}, flip ${pick('input.flipProbability')}`],
    [
      'data',
      pick('data.valAnnotationFile') !== 'null'
        ? `train ${pick('data.trainAnnotationFile')} + ${pick('data.trainImageDir')}, val ${pick('data.valAnnotationFile')} + ${pick('data.valImageDir')}, val limit ${pick('data.valLimit')}`
        : `${pick('data.root') === 'null' ? 'the embedded shapes set' : pick('data.root')} (train ${pick('data.trainSplit')}, val ${pick('data.valSplit')}, val limit ${pick('data.valLimit')})`,
    ],
    ['solver', `${pick('solver.optimizer')} lr ${pick('solver.baseLr')} batch ${pick('solver.batchSize')} max iter ${pick('solver.maxIter')}, ${pick('solver.schedule')} steps ${pick('solver.steps')}, warmup ${pick('solver.warmupIters')}`],
    ['periods', `log ${pick('train.logPeriod')}, eval ${pick('train.evalPeriod')}, collapse ${pick('train.collapsePeriod')}, checkpoint ${pick('train.checkpointPeriod')}`],
    ['seed, backend', `${pick('seed')}, ${pick('backend')}`],
  ];
}

/** The detections of one image above `minScore`, best first, as drawable xyxy boxes with contiguous labels. */
export function imageDetections(
  detections: readonly CocoDetection[],
  imageId: number,
  labelOf: ReadonlyMap<number, number>,
  minScore: number,
  scale = 1,
): ImageDetections {
  const mine = detections.filter((d) => d.image_id === imageId && d.score >= minScore && labelOf.has(d.category_id)).sort((a, b) => b.score - a.score);
  const boxes = new Float32Array(mine.length * 4);
  mine.forEach((d, i) => boxes.set([d.bbox[0] * scale, d.bbox[1] * scale, (d.bbox[0] + d.bbox[2]) * scale, (d.bbox[1] + d.bbox[3]) * scale], 4 * i));
  return {
    boxes,
    scores: Float32Array.from(mine, (d) => d.score),
    labels: Int32Array.from(mine, (d) => labelOf.get(d.category_id)!),
  };
}

async function drawSamples(input: RunReportInput, evaluation: ReportEvaluation): Promise<RunPageParts['samples']> {
  const count = input.sampleImages ?? 6;
  const minScore = input.sampleScore ?? 0.3;
  const labelOf = new Map(input.categories.map((c, k) => [c.id, k]));
  const classNames = input.categories.map((c) => c.name);
  const samples: RunPageParts['samples'] = [];
  for (const image of input.valImages.slice(0, count)) {
    const meta = await sharp(image.path).metadata();
    if (!meta.width || !meta.height) continue;
    const scale = SAMPLE_SIDE / Math.max(meta.width, meta.height);
    const width = Math.round(meta.width * scale);
    const height = Math.round(meta.height * scale);
    const resized = await sharp(image.path).resize(width, height, { fit: 'fill' }).png().toBuffer();
    const dets = imageDetections(evaluation.detections, image.id, labelOf, minScore, scale);
    const jpeg = await drawDetections(resized, dets, classNames, { format: 'jpeg' });
    samples.push({
      caption: `image ${image.id}: ${dets.scores.length} detection(s) with score >= ${minScore} (iteration ${evaluation.iteration})`,
      dataUri: `data:image/jpeg;base64,${jpeg.toString('base64')}`,
      width,
      height,
    });
  }
  return samples;
}

/**
 * Keeps a run's report up to date during training: `refresh(evaluation)` after each evaluation, `refresh()` at
 * the end (the last evaluation is remembered). A failure to write is reported through `onError` and does not
 * stop the run: the report is a view of the records, which are already on disk.
 */
export class RunReportWriter {
  private last: ReportEvaluation | null = null;

  constructor(private readonly input: Omit<RunReportInput, 'evaluation'> & { onError?: (message: string) => void }) {}

  async refresh(evaluation?: ReportEvaluation): Promise<void> {
    if (evaluation !== undefined) this.last = evaluation;
    try {
      if (evaluation !== undefined) {
        const names = new Map(this.input.categories.map((c) => [c.id, c.name]));
        const ap = Object.fromEntries(evaluation.perCategory.map((r) => [names.get(r.categoryId) ?? String(r.categoryId), r.ap]));
        appendFileSync(join(this.input.workDir, PER_CLASS_FILE), `${JSON.stringify({ iteration: evaluation.iteration, ap })}\n`);
      }
      await writeRunReport({ ...this.input, evaluation: this.last });
    } catch (err) {
      this.input.onError?.(`${join(this.input.workDir, 'report.html')}: not written: ${(err as Error).message}`);
    }
  }
}
