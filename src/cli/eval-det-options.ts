/**
 * Parsing of eval-det's flag values into evaluator parameters. Pure: strings in, values out; a bad value is an
 * InputError naming the flag.
 */
import { idFromText, type LoadedGroundTruth } from '../eval/coco-json.js';
import { linspace, type EvalParams, type GroundTruthSet } from '../eval/cocoeval.js';
import { InputError } from '../util/errors.js';

/** The raw flag values eval-det accepts (as commander hands them over). */
export interface EvalDetFlags {
  gt: string;
  dt: string;
  useCats?: string;
  imgIds?: string;
  catIds?: string;
  maxDets?: string;
  iouThrs?: string;
  json?: string;
  /** Error analysis (C75 .. FN) into `analyzeOut`. */
  analyze?: boolean;
  analyzeOut?: string;
  /** With `analyze`: a figure per category and per super-category too. */
  perCategory?: boolean;
  /** Refuse what pycocotools ignores (undeclared categories in the results, GT annotations on undeclared ids). */
  strict?: boolean;
}

function flagError(flag: string, message: string): InputError {
  return new InputError(`${flag}: ${message}`);
}

/** `"1,2, 3"` -> `[1, 2, 3]`; every entry a finite number. */
export function parseNumberList(text: string, flag: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((s) => s === '')) throw flagError(flag, `expected a comma-separated list of numbers, got "${text}"`);
  return parts.map((s) => {
    const v = Number(s);
    if (!Number.isFinite(v)) throw flagError(flag, `"${s}" is not a finite number`);
    return v;
  });
}

/**
 * IoU thresholds: a list `0.5,0.75` or a range `start:step:stop` built like pycocotools' default
 * (`np.linspace(start, stop, round((stop - start) / step) + 1)`, so `.5:.05:.95` gives the default thresholds exactly).
 */
export function parseIouThrs(text: string): number[] {
  const flag = '--iou-thrs';
  let thrs: number[];
  if (text.includes(':')) {
    const parts = text.split(':');
    if (parts.length !== 3) throw flagError(flag, `a range is start:step:stop, got "${text}"`);
    const [start, step, stop] = parts.map((s) => {
      const v = Number(s.trim());
      if (s.trim() === '' || !Number.isFinite(v)) throw flagError(flag, `"${s}" is not a finite number`);
      return v;
    }) as [number, number, number];
    if (!(step > 0) || stop < start) throw flagError(flag, `a range needs step > 0 and stop >= start, got "${text}"`);
    thrs = linspace(start, stop, Math.round((stop - start) / step) + 1);
  } else {
    thrs = parseNumberList(text, flag);
  }
  for (const t of thrs) if (t < 0 || t > 1) throw flagError(flag, `thresholds must lie in [0, 1], got ${t}`);
  return thrs;
}

/** `--use-cats 0|1` -> boolean. */
export function parseUseCats(text: string): boolean {
  if (text === '1' || text === 'true') return true;
  if (text === '0' || text === 'false') return false;
  throw flagError('--use-cats', `expected 0 or 1, got "${text}"`);
}

/**
 * `"1,2"` -> the evaluator's ids of those GT ids, each one declared: numbers, or for a GT with string ids the
 * strings' ranks (see `IdSpace`). Order and repeats are kept.
 */
function parseIdList(text: string, flag: string, what: string, known: readonly number[], space: LoadedGroundTruth['imageIdSpace'] | undefined, gtFile: string): number[] {
  const declared = new Set(known);
  if (space?.kind !== 'string') {
    const ids = parseNumberList(text, flag);
    for (const id of ids) if (!declared.has(id)) throw flagError(flag, `unknown ${what} id ${id} (not in ${gtFile})`);
    return ids;
  }
  return text.split(',').map((s) => {
    const id = idFromText(s.trim(), space);
    if (id === undefined) throw flagError(flag, `unknown ${what} id "${s.trim()}" (not in ${gtFile})`);
    return id;
  });
}

/** Evaluator parameter overrides from the flags, checked against the ground truth. */
export function paramsFromFlags(flags: EvalDetFlags, gt: GroundTruthSet & Partial<Pick<LoadedGroundTruth, 'imageIdSpace' | 'categoryIdSpace'>>): Partial<EvalParams> {
  const out: Partial<EvalParams> = {};
  if (flags.useCats !== undefined) out.useCats = parseUseCats(flags.useCats);
  if (flags.imgIds !== undefined) out.imgIds = parseIdList(flags.imgIds, '--img-ids', 'image', gt.imageIds, gt.imageIdSpace, flags.gt);
  if (flags.catIds !== undefined) out.catIds = parseIdList(flags.catIds, '--cat-ids', 'category', gt.categoryIds, gt.categoryIdSpace, flags.gt);
  if (flags.maxDets !== undefined) {
    out.maxDets = parseNumberList(flags.maxDets, '--max-dets');
    for (const m of out.maxDets) if (!Number.isInteger(m) || m < 1) throw flagError('--max-dets', `values must be positive integers, got ${m}`);
    if (new Set(out.maxDets).size < 3) throw flagError('--max-dets', `the 12-line summary needs 3 distinct values (it reads maxDets[0..2]), got "${flags.maxDets}"`);
  }
  if (flags.iouThrs !== undefined) out.iouThrs = parseIouThrs(flags.iouThrs);
  return out;
}

/** Where and how much of the error analysis to write. */
export interface AnalysisRequest {
  dir: string;
  perCategory: boolean;
}

/** The error-analysis request of the flags, or undefined without `--analyze`; the other two flags need it. */
export function analysisFromFlags(flags: EvalDetFlags, overrides: Partial<EvalParams>): AnalysisRequest | undefined {
  if (!flags.analyze) {
    if (flags.analyzeOut !== undefined) throw flagError('--analyze-out', 'needs --analyze');
    if (flags.perCategory) throw flagError('--per-category', 'needs --analyze');
    return undefined;
  }
  if (overrides.useCats === false) throw flagError('--analyze', 'the error analysis is per category: it cannot run with --use-cats 0');
  if (flags.analyzeOut === '') throw flagError('--analyze-out', 'expected a directory');
  return { dir: flags.analyzeOut ?? 'analyze', perCategory: flags.perCategory === true };
}
