#!/usr/bin/env node
/**
 * eval-det: COCO bbox evaluation of a results JSON against a ground truth, with pycocotools' numbers.
 *
 *   eval-det --gt instances_val2017.json --dt results.json [--use-cats 0] [--img-ids 1,2] [--cat-ids 1,3]
 *            [--max-dets 1,10,100] [--iou-thrs .5:.05:.95] [--json out.json] [--strict] [--analyze [--analyze-out DIR] [--per-category]]
 *
 * Prints the 12 summary lines and a per-category table. Bad input: one line on stderr, exit code 2. What
 * pycocotools ignores (detections of undeclared categories, ...) is ignored too, with one warning line each.
 */
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { cocoEvaluate } from '../eval/cocoeval.js';
import { idLabel, readDetections, readGroundTruth } from '../eval/coco-json.js';
import { evalReport, formatReportJson, perCategoryTable, summaryLines } from '../eval/report.js';
import { InputError } from '../util/errors.js';
import { exitOnError } from './exit.js';
import { analysisFromFlags, paramsFromFlags, type EvalDetFlags } from './eval-det-options.js';
import { categoryListWarning, ignoredWarnings } from './eval-det-warnings.js';

function run(argv: string[]): Promise<void> | undefined {
  const program = new Command('eval-det')
    .description('COCO bbox evaluation (pycocotools-exact) of a results JSON against COCO ground truth')
    .requiredOption('--gt <file>', 'COCO instances JSON (ground truth)')
    .requiredOption('--dt <file>', 'COCO results JSON: [{image_id, category_id, bbox: [x, y, w, h], score}]')
    .option('--use-cats <0|1>', 'evaluate per category (1, default) or class-agnostic (0)')
    .option('--img-ids <ids>', 'comma-separated image ids to evaluate (default: all in the ground truth)')
    .option('--cat-ids <ids>', 'comma-separated category ids to evaluate (default: all)')
    .option('--max-dets <n,n,n>', 'detections kept per image, ascending (default 1,10,100)')
    .option('--iou-thrs <list|start:step:stop>', 'IoU thresholds (default .5:.05:.95)')
    .option('--json <file>', 'write stats, per-category AP/AR and parameters as JSON')
    .option('--strict', 'refuse what pycocotools ignores: detections of undeclared categories, GT annotations on undeclared images or categories')
    .option('--analyze', 'error analysis: AP with localisation, class-confusion and background errors forgiven (table, JSON, PR plots)')
    .option('--analyze-out <dir>', 'where --analyze writes analysis.json and its plots (default ./analyze)')
    .option('--per-category', 'with --analyze: a plot per category and per super-category besides the overall one')
    .addHelpText(
      'after',
      '\nA model over a split (results JSON written, then evaluated, plus the collapse table):\n' +
        '  eval-det --checkpoint CKPT --data DIR [--split val2017] [--out DIR] [--limit N] [--backend B]\n' +
        '  eval-det --weights torchvision:retinanet_resnet50_fpn_coco|FILE.pth|URL --data DIR\n' +
        '(eval-det --checkpoint CKPT --help lists all the options of that mode)',
    )
    .exitOverride()
    .configureOutput({ writeErr: () => undefined });
  program.parse(argv);
  const flags = program.opts<EvalDetFlags>();

  const started = performance.now();
  const strict = flags.strict === true;
  const gt = readGroundTruth(flags.gt, { strict });
  const dt = readDetections(flags.dt, gt, { strict });
  const overrides = paramsFromFlags(flags, gt);
  const analysis = analysisFromFlags(flags, overrides);
  const result = cocoEvaluate(gt, dt, overrides);
  const seconds = (performance.now() - started) / 1000;
  for (const line of [...ignoredWarnings(flags.gt, gt, flags.dt, dt), ...categoryListWarning(result.params, gt.categoryIdSpace)]) console.error(`eval-det: ${line}`);

  const p = result.params;
  console.log(
    `Evaluated ${dt.score.length} detections on ${p.imgIds.length} images, ${p.useCats ? `${p.catIds.length} categories` : 'categories ignored (useCats=0)'}, ` +
      `${p.iouThrs.length} IoU thresholds, maxDets ${p.maxDets.join('/')} in ${seconds.toFixed(2)} s`,
  );
  console.log(summaryLines(p, result.stats).join('\n'));
  console.log('');
  console.log(`Per category (maxDets=${p.maxDets[p.maxDets.length - 1]}, area=all; AP averaged over IoU thresholds; - : no ground truth):`);
  console.log(perCategoryTable(result.perCategory, gt.categoryNames, (id) => idLabel(id, gt.categoryIdSpace)));
  if (flags.json !== undefined) {
    const written = (space: typeof gt.imageIdSpace) => (id: number) => (space.kind === 'string' ? idLabel(id, space) : id);
    const report = evalReport(result, gt.categoryNames, overrides.imgIds !== undefined, { image: written(gt.imageIdSpace), category: written(gt.categoryIdSpace) });
    try {
      writeFileSync(flags.json, formatReportJson(report));
    } catch (err) {
      throw new InputError(`${flags.json}: cannot write (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    console.log(`\nWrote ${flags.json}`);
  }
  // The charting code loads only when asked for.
  return analysis && import('./eval-det-analyze.js').then((m) => m.writeErrorAnalysis(gt, dt, p, analysis));
}

// Output piped into a reader that stops early (`| head`) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

/** Where results go (checkpoint mode), once known: named when a write fails without a path (a full disk). */
let outDir: string | undefined;

function fail(err: unknown): never {
  return exitOnError('eval-det', err, outDir);
}

// `--checkpoint CKPT --data DIR` or `--weights SPEC --data DIR`: run a model over a split first (src/cli/eval-checkpoint.ts, loaded only then).
if (process.argv.some((a) => /^--(checkpoint|weights)(=|$)/.test(a))) {
  import('./eval-checkpoint.js')
    .then((m) => m.runCheckpointEval(process.argv, (dir) => (outDir = dir)))
    .catch(fail);
} else {
  try {
    run(process.argv)?.catch(fail);
  } catch (err) {
    fail(err);
  }
}
