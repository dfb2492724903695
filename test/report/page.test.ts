import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeHtml, inlineSvg } from '../../src/report/page.js';
import { imageDetections, writeRunReport, type ReportEvaluation } from '../../src/report/run-report.js';
import { writeStudyReport } from '../../src/report/study-report.js';
import { skipReason } from '../helpers.js';
import { fakeRunDir } from './fixtures.js';

/** Debian's chromium (the browser test skips without it; `apt-get install -y chromium`), or $PSDET_CHROMIUM. */
const CHROMIUM = process.env.PSDET_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const CHROMIUM_SKIP = skipReason(HAVE_CHROMIUM, `no browser at ${CHROMIUM} (apt-get install -y chromium, or set PSDET_CHROMIUM)`, 'PSDET_REQUIRE_CHROMIUM');

const categories = [
  { id: 1, name: 'circle' },
  { id: 2, name: 'square' },
];

async function runWithReport(): Promise<{ dir: string; html: string }> {
  const dir = fakeRunDir();
  const images = [];
  for (const [id, w, h] of [[11, 128, 96], [12, 640, 480]] as const) {
    const path = join(dir, `img${id}.png`);
    await sharp({ create: { width: w, height: h, channels: 3, background: '#808080' } }).png().toFile(path);
    images.push({ id, path });
  }
  const evaluation: ReportEvaluation = {
    iteration: 100,
    stats: { AP: 0.2 },
    perCategory: [
      { categoryId: 1, ap: 0.25, ap50: 0.5, ap75: 0.125, apSmall: -1, apMedium: -1, apLarge: -1, ar: 0.3 },
      { categoryId: 2, ap: -1, ap50: -1, ap75: -1, apSmall: -1, apMedium: -1, apLarge: -1, ar: -1 },
    ],
    detections: [
      { image_id: 11, category_id: 1, bbox: [10, 10, 40, 30], score: 0.9 },
      { image_id: 11, category_id: 2, bbox: [20, 20, 40, 30], score: 0.2 },
      { image_id: 12, category_id: 2, bbox: [100, 100, 200, 150], score: 0.6 },
    ],
  };
  const path = await writeRunReport({ workDir: dir, categories, valImages: images, evaluation });
  expect(path).toBe(join(dir, 'report.html'));
  return { dir, html: readFileSync(path, 'utf8') };
}

describe('report.html', () => {
  let dir = '';
  let html = '';
  beforeAll(async () => {
    ({ dir, html } = await runWithReport());
  }, 120_000);

  it('is self-contained: no URL, no script, images as data: URIs', () => {
    expect(html).not.toMatch(/https?:/i);
    expect(html).not.toMatch(/<script|<link|@import|url\(/i);
    const srcs = [...html.matchAll(/\bsrc="([^"]*)"/g)].map((m) => m[1]!);
    expect(srcs).toHaveLength(2);
    for (const src of srcs) expect(src.startsWith('data:image/jpeg;base64,')).toBe(true);
  });

  it('holds the config summary, the environment, every chart, the COCO table, AP per class and the collapse table', () => {
    expect(html).toContain('ResNet-18');
    expect(html).toContain('tfjs-core: 4.22.0, backend: cpu (pure JavaScript)');
    expect(html.match(/<div class="chart"/g)).toHaveLength(7);
    expect(html).toContain('COCO evaluation at iteration 100');
    // AP 0.2 (metrics.jsonl's last eval) -> 20.0; circle AP 0.25 -> 25.0, AP50 50.0, AP75 12.5; square has no GT -> '-'
    expect(html).toContain('<td>AP</td><td>20.0</td>');
    expect(html).toContain('<td>circle</td><td>25.0</td><td>50.0</td><td>12.5</td>');
    expect(html).toContain('<td>square</td><td>-</td><td>-</td><td>-</td>');
    // collapse at 100: res2 4 dead of 24 = 16.7 %, norm-fed 4/16 = 25.0, norm-free 0/8 = 0.0; fpn norm-fed '-'
    expect(html).toContain('<td>res2</td><td>24</td><td>4</td><td>16.7</td><td>25.0</td><td>0.0</td>');
    expect(html).toMatch(/<td>fpn<\/td><td>32<\/td><td>4<\/td><td>12.5<\/td><td>-<\/td><td>12.5<\/td><td>-<\/td>/);
    // image 11: one detection at >= 0.3 (0.9; 0.2 is below), image 12: one
    expect(html).toContain('image 11: 1 detection(s) with score &gt;= 0.3');
  });

  it('writes the curves beside it', () => {
    for (const f of ['loss', 'lr', 'grad_norm', 'time', 'ap', 'ap_size', 'collapse']) {
      expect(existsSync(join(dir, 'curves', `${f}.svg`))).toBe(true);
      expect(existsSync(join(dir, 'curves', `${f}.png`))).toBe(true);
    }
  });

  describe.skipIf(!HAVE_CHROMIUM)(`in headless chromium ${CHROMIUM_SKIP}`, () => {
    let browser: import('playwright-core').Browser | null = null;
    afterAll(async () => {
      await browser?.close();
    });

    it('loads from disk with no console error and no request, and draws every chart at its size', async () => {
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      });
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('request', (r) => {
        if (!/^(file|data):/.test(r.url())) problems.push(`request: ${r.url()}`);
      });
      page.on('requestfailed', (r) => problems.push(`failed: ${r.url()}`));
      await page.goto(`file://${join(dir, 'report.html')}`, { waitUntil: 'load' });
      const charts = await page.$$eval('.chart > svg', (svgs) =>
        svgs.map((svg) => {
          const box = svg.getBoundingClientRect();
          return { width: box.width, height: box.height, attrWidth: Number(svg.getAttribute('width')), attrHeight: Number(svg.getAttribute('height')), marks: svg.querySelectorAll('path').length };
        }),
      );
      expect(charts).toHaveLength(7);
      for (const c of charts) {
        expect(c.width).toBeGreaterThan(200);
        expect(c.height).toBeGreaterThan(100);
        expect(Math.abs(c.width - c.attrWidth)).toBeLessThan(1);
        expect(Math.abs(c.height - c.attrHeight)).toBeLessThan(1);
        expect(c.marks).toBeGreaterThan(3);
      }
      const images = await page.$$eval('figure img', (imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth));
      expect(images).toEqual([320, 320]);
      const shot = join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`report page screenshot: ${shot}`);
      expect(problems).toEqual([]);
    }, 120_000);

    it('opens the study page too: no console error, every chart drawn at its size', async () => {
      const { chromium } = await import('playwright-core');
      browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
      const study = mkdtempSync(join(tmpdir(), 'psdet-study-page-'));
      const path = await writeStudyReport(study, 'Grid', [{ id: 'bn', workDir: dir }, { id: 'psbn', workDir: fakeRunDir() }]);
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(`file://${path}`, { waitUntil: 'load' });
      const sizes = await page.$$eval('.chart > svg', (svgs) => svgs.map((svg) => [svg.getBoundingClientRect().width, Number(svg.getAttribute('width'))]));
      expect(sizes).toHaveLength(5);
      for (const [drawn, stated] of sizes) expect(Math.abs(drawn! - stated!)).toBeLessThan(1);
      // the arm with a report of its own is linked (a relative file path, no URL)
      expect(await page.$$eval('table a', (as) => as.map((a) => a.getAttribute('href')))).toEqual([relative(study, join(dir, 'report.html'))]);
      expect(problems).toEqual([]);
    }, 120_000);
  });
});

describe('page parts', () => {
  it('escapes text and drops namespace URLs from inline SVG', () => {
    expect(escapeHtml(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
    expect(inlineSvg('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="3"><image xlink:href="data:x"/></svg>')).toBe(
      '<svg width="3"><image href="data:x"/></svg>',
    );
  });

  it('turns COCO detections of one image into xyxy boxes, best first, scaled', () => {
    const labelOf = new Map([[1, 0], [2, 1]]);
    const d = imageDetections(
      [
        { image_id: 1, category_id: 2, bbox: [10, 20, 30, 40], score: 0.5 },
        { image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 0.9 },
        { image_id: 2, category_id: 1, bbox: [0, 0, 10, 10], score: 0.9 },
        { image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 0.1 },
      ],
      1,
      labelOf,
      0.3,
      2,
    );
    expect(Array.from(d.scores)).toEqual([Math.fround(0.9), Math.fround(0.5)]);
    expect(Array.from(d.labels)).toEqual([0, 1]);
    expect(Array.from(d.boxes)).toEqual([0, 0, 20, 20, 20, 40, 80, 120]);
  });
});
