// eval-det --analyze run as users run it: the table, analysis.json and the figures; flag and write errors as one
// line with exit code 2.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { analysisFromFlags } from '../../src/cli/eval-det-options.js';
import { runCli } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'psdet-analyze-'));
function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

// A cat on image 1, a dog on image 2 (both animals), a car nowhere. Dog detections: 0.9 on the cat, 0.5 on the dog.
const gt = file('gt.json', {
  images: [{ id: 1 }, { id: 2 }],
  categories: [
    { id: 1, name: 'cat', supercategory: 'animal' },
    { id: 2, name: 'dog', supercategory: 'animal' },
    { id: 3, name: 'race car', supercategory: 'vehicle' },
  ],
  annotations: [
    { id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0 },
    { id: 2, image_id: 2, category_id: 2, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0 },
  ],
});
const dt = file('dt.json', [
  { image_id: 1, category_id: 2, bbox: [10, 10, 20, 20], score: 0.9 },
  { image_id: 2, category_id: 2, bbox: [10, 10, 20, 20], score: 0.5 },
]);

function expectOneLineError(r: ReturnType<typeof runCli>, message: string): void {
  expect(r.status).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toEqual([message]);
}

describe('eval-det --analyze', () => {
  it('prints the step table and writes analysis.json with an overall figure, plus one per category and super-category', async () => {
    const out = join(dir, 'analysis');
    const r = runCli('eval-det.ts', ['--gt', gt, '--dt', dt, '--analyze', '--analyze-out', out, '--per-category']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    // Dog: FP then TP (AP 0.5) until Sim forgives the detection on the cat.
    expect(lines).toContain(' 2  dog (animal)             1  0.500  0.500  0.500  1.000  1.000  1.000  1.000');
    expect(lines).toContain(' 3  race car (vehicle)       0      -      -      -      -      -      -      -');
    const json = JSON.parse(readFileSync(join(out, 'analysis.json'), 'utf8')) as {
      steps: string[];
      overall: { ap: Record<string, number>; precision: Record<string, number[]> };
      perCategory: { categoryId: number; name: string; ap: Record<string, number> }[];
    };
    expect(json.steps).toEqual(['C75', 'C50', 'Loc', 'Sim', 'Oth', 'BG', 'FN']);
    expect(json.perCategory.find((c) => c.categoryId === 2)!.ap.Sim).toBeCloseTo(1, 12);
    expect(json.overall.ap.C50).toBeCloseTo(0.25, 12);
    expect(json.overall.precision.C50).toHaveLength(101);
    const figures = ['overall', 'supercategory-animal', 'category-1-cat', 'category-2-dog'];
    for (const f of figures) {
      expect(readFileSync(join(out, `${f}.svg`), 'utf8').startsWith('<svg')).toBe(true);
      expect((await sharp(join(out, `${f}.png`)).metadata()).format).toBe('png');
    }
    // No figure for a category or super-category without ground truth, no leftover temporary files.
    expect(existsSync(join(out, 'category-3-race_car.svg'))).toBe(false);
    expect(existsSync(join(out, 'supercategory-vehicle.svg'))).toBe(false);
    expect(lines).toContain(`Wrote ${join(out, 'analysis.json')} and 4 figures (SVG + PNG) to ${out}`);
  });

  it('writes only the overall figure without --per-category', () => {
    const out = join(dir, 'overall-only');
    const r = runCli('eval-det.ts', ['--gt', gt, '--dt', dt, '--analyze', '--analyze-out', out]);
    expect(r.status).toBe(0);
    expect(existsSync(join(out, 'overall.png'))).toBe(true);
    expect(existsSync(join(out, 'category-2-dog.png'))).toBe(false);
  });

  it('a directory that cannot be made is one line naming it, exit 2', () => {
    const blocker = file('not-a-dir', {});
    const r = runCli('eval-det.ts', ['--gt', gt, '--dt', dt, '--analyze', '--analyze-out', join(blocker, 'out')]);
    expectOneLineError(r, `eval-det: ${join(blocker, 'out')}: cannot write (ENOTDIR)`);
  });

  it('rejects --analyze with --use-cats 0 and the analysis flags without --analyze', () => {
    expectOneLineError(runCli('eval-det.ts', ['--gt', gt, '--dt', dt, '--analyze', '--use-cats', '0']), 'eval-det: --analyze: the error analysis is per category: it cannot run with --use-cats 0');
    expect(() => analysisFromFlags({ gt, dt, perCategory: true }, {})).toThrow('--per-category: needs --analyze');
    expect(() => analysisFromFlags({ gt, dt, analyzeOut: 'x' }, {})).toThrow('--analyze-out: needs --analyze');
    expect(analysisFromFlags({ gt, dt, analyze: true }, {})).toEqual({ dir: 'analyze', perCategory: false });
  });
});
