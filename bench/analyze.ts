/**
 * Error analysis at val2017 scale, beside the standard evaluation of the same files in the same process: the case
 * `npm run bench:eval` generates (.bench/eval/{gt,dt}.json: 5,000 images, 39,108 GT boxes, 500,000 detections).
 * Its ground truth has no super-categories, so the 80 categories are put into 12 groups (category index mod 12) to
 * give the Sim step work.
 *
 *   npm run bench:eval && npm run bench:analyze
 *
 * No other tool computes this analysis outside MATLAB, so the reference is our own standard evaluation.
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { analyzeErrors } from '../src/eval/analyze.js';
import { cocoEvaluate, resolveParams } from '../src/eval/cocoeval.js';
import { readDetections, readGroundTruth } from '../src/eval/coco-json.js';

const dir = process.argv[2] ?? '.bench/eval';
const gtPath = join(dir, 'gt.json');
const dtPath = join(dir, 'dt.json');
if (!existsSync(gtPath) || !existsSync(dtPath)) {
  console.error(`${gtPath} or ${dtPath} not found: run \`npm run bench:eval\` first`);
  process.exit(2);
}
const gt = readGroundTruth(gtPath);
const dt = readDetections(dtPath, gt);
const superCategories = gt.superCategories.size > 0 ? gt.superCategories : new Map(gt.categoryIds.map((c, i) => [c, `group${i % 12}`]));

function timed<T>(f: () => T): { value: T; wallS: number; cpuS: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = f();
  const c = process.cpuUsage(c0);
  return { value, wallS: (performance.now() - t0) / 1000, cpuS: (c.user + c.system) / 1e6 };
}

const standard = timed(() => cocoEvaluate(gt, dt));
const analysis = timed(() => analyzeErrors(gt, dt, { params: resolveParams(gt), superCategories }));
const ap = analysis.value.overall.ap.map((v) => v.toFixed(3)).join(' ');
console.log(`${gt.imageIds.length} images, ${gt.annotations.id.length} GT, ${dt.score.length} detections; load average ${loadavg()[0]!.toFixed(1)}`);
console.log(`standard evaluation (evaluate + accumulate + summarize): ${standard.wallS.toFixed(2)} s wall, ${standard.cpuS.toFixed(2)} s CPU`);
console.log(`error analysis (1 + 2 x 80 evaluations):               ${analysis.wallS.toFixed(2)} s wall, ${analysis.cpuS.toFixed(2)} s CPU (${(analysis.cpuS / standard.cpuS).toFixed(1)}x)`);
console.log(`overall AP C75 C50 Loc Sim Oth BG FN: ${ap}; summary AP75 ${standard.value.stats[2]!.toFixed(3)}, AP50 ${standard.value.stats[1]!.toFixed(3)}`);
