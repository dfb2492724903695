// The eval-det CLI run as users run it (a child process): output on success, exit code 2 with one line on bad input.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

const CLI = join(ROOT, 'src', 'cli', 'eval-det.ts');

function evalDet(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('npx', ['tsx', CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'psdet-eval-det-'));
function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

// Two images, one person each; a perfect detection on image 1, a miss on image 2.
const gt = file('gt.json', {
  images: [{ id: 1 }, { id: 2 }],
  categories: [{ id: 1, name: 'person' }],
  annotations: [
    { id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0 },
    { id: 2, image_id: 2, category_id: 1, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0 },
  ],
});
const dt = file('dt.json', [
  { image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 0.9 },
  { image_id: 2, category_id: 1, bbox: [50, 50, 10, 10], score: 0.8 },
]);

function expectUserError(r: ReturnType<typeof evalDet>, message: string | RegExp): void {
  expect(r.status).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  if (typeof message === 'string') expect(lines[0]).toBe(message);
  else expect(lines[0]).toMatch(message);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('eval-det', () => {
  it('prints the 12 summary lines and the per-category table, and writes JSON', () => {
    const out = join(dir, 'out.json');
    // Image 1 only: AP 1 (to 1e-15). Both images: TP, FP -> precision 1, 1/2, recall 1/2 -> AP 51/101 = 0.505.
    const r = evalDet(['--gt', gt, '--dt', dt, '--img-ids', '1', '--json', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toContain(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000');
    expect(lines.filter((l) => /^ Average (Precision|Recall)/.test(l))).toHaveLength(12);
    expect(lines.some((l) => /^ 1 +person +1\.000 /.test(l))).toBe(true);
    const report = JSON.parse(readFileSync(out, 'utf8')) as { stats: Record<string, number>; params: { imgIds: number[] } };
    expect(report.stats.AP).toBeCloseTo(1, 12);
    expect(report.params.imgIds).toEqual([1]);

    const all = evalDet(['--gt', gt, '--dt', dt, '--use-cats', '0', '--max-dets', '1,10,100', '--iou-thrs', '.5:.05:.95']);
    expect(all.status).toBe(0);
    expect(all.stdout).toContain(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505');
    expect(all.stdout).toContain('(all classes)');
  });

  it('exits 2 with one line naming file, index and field on bad results', () => {
    expectUserError(evalDet(['--gt', gt, '--dt', file('bad.json', '[{"image_id": 1,')]), /^eval-det: \/.*\/bad\.json: index 0: malformed JSON: .* at byte 16$/);
    const unknown = file('unknown.json', [{ image_id: 1, category_id: 1, bbox: [0, 0, 1, 1], score: 0.5 }, { image_id: 7, category_id: 1, bbox: [0, 0, 1, 1], score: 0.5 }]);
    expectUserError(evalDet(['--gt', gt, '--dt', unknown]), `eval-det: ${unknown}: index 1: field "image_id": unknown image id 7 (not in the ground truth)`);
    const negative = file('negative.json', [{ image_id: 1, category_id: 1, bbox: [0, 0, -1, 1], score: 0.5 }]);
    expectUserError(evalDet(['--gt', gt, '--dt', negative]), `eval-det: ${negative}: index 0: field "bbox": width and height must be >= 0, got [0, 0, -1, 1]`);
  });

  it('ignores detections of undeclared categories with one warning line, as pycocotools; --strict refuses them', () => {
    const extra = file('extra.json', [
      { image_id: 1, category_id: 1, bbox: [0, 0, 1, 1], score: 0.5 },
      { image_id: 1, category_id: 90, bbox: [0, 0, 1, 1], score: 0.5 },
      { image_id: 2, category_id: 91, bbox: [0, 0, 1, 1], score: 0.5 },
    ]);
    const r = evalDet(['--gt', gt, '--dt', extra]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`eval-det: warning: ${extra}: ignored 2 detections of categories ${gt} does not declare (first: index 1, category_id 90), as pycocotools does (--strict refuses them)\n`);
    expect(r.stdout).toContain('Evaluated 1 detections');
    expectUserError(evalDet(['--gt', gt, '--dt', extra, '--strict']), `eval-det: ${extra}: index 1: field "category_id": unknown category id 90 (not in the ground truth)`);
  });

  it('evaluates string ids (as pycocotools does) and writes them back as strings', () => {
    const sgt = file('sgt.json', {
      images: [{ id: 'img-b' }, { id: 'img-a' }],
      categories: [{ id: 'car' }],
      annotations: [
        { id: 1, image_id: 'img-a', category_id: 'car', bbox: [0, 0, 10, 10], area: 100 },
        { id: 2, image_id: 'img-b', category_id: 'car', bbox: [0, 0, 10, 10], area: 100 },
      ],
    });
    const sdt = file('sdt.json', [{ image_id: 'img-a', category_id: 'car', bbox: [0, 0, 10, 10], score: 0.9 }]);
    const out = join(dir, 'strings.json');
    const r = evalDet(['--gt', sgt, '--dt', sdt, '--img-ids', 'img-a', '--cat-ids', 'car', '--json', out]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000');
    expect(r.stdout.split('\n').some((l) => /^ *car +car +1\.000 /.test(l))).toBe(true);
    const report = JSON.parse(readFileSync(out, 'utf8')) as { params: { imgIds: string[]; catIds: string[] }; perCategory: { categoryId: string }[] };
    expect(report.params.imgIds).toEqual(['img-a']);
    expect(report.params.catIds).toEqual(['car']);
    expect(report.perCategory[0]!.categoryId).toBe('car');
  });

  it('exits 2 with one line on bad flags', () => {
    expectUserError(evalDet(['--dt', dt]), "eval-det: required option '--gt <file>' not specified");
    expectUserError(evalDet(['--gt', gt, '--dt', dt, '--use-cats', '2']), 'eval-det: --use-cats: expected 0 or 1, got "2"');
    expectUserError(evalDet(['--gt', gt, '--dt', dt, '--img-ids', '1,x']), 'eval-det: --img-ids: "x" is not a finite number');
    expectUserError(evalDet(['--gt', join(dir, 'missing.json'), '--dt', dt]), `eval-det: ${join(dir, 'missing.json')}: file not found`);
  });

  it('--help shows the model-over-a-split mode too (--checkpoint / --weights)', () => {
    const r = evalDet(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('eval-det --checkpoint CKPT --data DIR');
    expect(r.stdout).toContain('eval-det --weights torchvision:retinanet_resnet50_fpn_coco');
  });

  it('starts with a node shebang', () => {
    expect(readFileSync(CLI, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });
});
