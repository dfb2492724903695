import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import sharp from 'sharp';

/**
 * SVG line and bar charts without a plotting dependency: axes with "nice" ticks (1, 2, 5 x 10^k), axis labels with
 * units, a legend, a title. `svgToPng` renders them with sharp (librsvg).
 */

/** A categorical palette that stays distinguishable in print and for common colour-vision deficiencies. */
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";

export interface LineSeries {
  name: string;
  /** (x, y) points; drawn in the given order, NaN / null y values break the line. */
  points: Array<[number, number | null]>;
  color?: string;
  /** Draw dashed (e.g. the BN run beside a psBN run of the same colour). */
  dashed?: boolean;
}

export interface AxisFormat {
  /** Axis title with its unit, e.g. "dead channels (% of stage)". */
  label: string;
  /** Fixed bounds; by default the data range widened to nice ticks. */
  min?: number;
  max?: number;
  /** Renders a tick value; default: the value with as many decimals as the tick step needs. */
  format?: (value: number, step: number) => string;
}

export interface LineChartSpec {
  title: string;
  x: AxisFormat;
  y: AxisFormat;
  series: LineSeries[];
  /** Size in CSS pixels (the SVG's user units); default 760 x 440. */
  width?: number;
  height?: number;
}

export interface BarGroup {
  name: string;
  /** One value per category; null draws no bar (the figure does not apply). */
  values: Array<number | null>;
  color?: string;
}

export interface BarChartSpec {
  title: string;
  /** Category axis title, e.g. "stage". */
  xLabel: string;
  y: AxisFormat;
  categories: string[];
  groups: BarGroup[];
  width?: number;
  height?: number;
}

/** Tick format for ratios shown as percentages: 0.25 -> "25%". */
export function percentFormat(value: number, step: number): string {
  return `${formatNumber(value * 100, step * 100)}%`;
}

/** A value printed with the decimals the step needs (step 0.05 -> 2 decimals), without float noise. */
export function formatNumber(value: number, step: number): string {
  let decimals = 0;
  while (decimals < 10 && step > 0 && Math.abs(step * 10 ** decimals - Math.round(step * 10 ** decimals)) > 1e-6) decimals++;
  const text = value.toFixed(decimals);
  return text === `-${(0).toFixed(decimals)}` ? text.slice(1) : text;
}

/** "Nice" axis ticks covering [min, max] with about `count` steps of 1, 2 or 5 x 10^k. */
export function niceTicks(min: number, max: number, count = 5): { ticks: number[]; step: number; lo: number; hi: number } {
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    min = 0;
    max = 1;
  }
  if (max < min) [min, max] = [max, min];
  if (max === min) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / magnitude;
  const step = Number(((fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude).toPrecision(12));
  const lo = Number((Math.floor(min / step + 1e-9) * step).toPrecision(12));
  const hi = Number((Math.ceil(max / step - 1e-9) * step).toPrecision(12));
  const ticks: number[] = [];
  for (let k = 0; lo + k * step <= hi + step * 1e-9; k++) ticks.push(Number((lo + k * step).toPrecision(12)));
  return { ticks, step, lo, hi };
}

/** Escapes text for an SVG text node or attribute. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** Rough width of a label in DejaVu Sans at `size` px (the legend column is sized with it). */
function textWidth(text: string, size: number): number {
  return text.length * size * 0.6;
}

function legendWidth(names: string[]): number {
  return names.length === 0 ? 0 : Math.min(260, Math.max(...names.map((n) => textWidth(n, 12))) + 44);
}

function frameFor(width: number, height: number, legendNames: string[]): Frame {
  const legend = legendWidth(legendNames);
  return { width, height, left: 74, right: width - 20 - legend, top: 48, bottom: height - 56 };
}

function header(frame: Frame, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${frame.width}" height="${frame.height}" viewBox="0 0 ${frame.width} ${frame.height}" font-family="${FONT}">`,
    `<rect x="0" y="0" width="${frame.width}" height="${frame.height}" fill="#ffffff"/>`,
    `<text x="${frame.width / 2}" y="28" font-size="16" font-weight="bold" text-anchor="middle" fill="#222">${escapeXml(title)}</text>`,
  ];
}

/** Horizontal grid, y ticks and labels, the y-axis title (rotated) and the axis lines. */
function yAxis(frame: Frame, ticks: number[], step: number, toY: (v: number) => number, axis: AxisFormat): string[] {
  const out: string[] = [];
  const fmt = axis.format ?? formatNumber;
  for (const t of ticks) {
    const y = toY(t).toFixed(1);
    out.push(`<line x1="${frame.left}" y1="${y}" x2="${frame.right}" y2="${y}" stroke="#e4e4e4" stroke-width="1"/>`);
    out.push(`<line x1="${frame.left - 5}" y1="${y}" x2="${frame.left}" y2="${y}" stroke="#333" stroke-width="1"/>`);
    out.push(`<text x="${frame.left - 8}" y="${y}" dy="0.35em" font-size="12" text-anchor="end" fill="#333">${escapeXml(fmt(t, step))}</text>`);
  }
  const midY = (frame.top + frame.bottom) / 2;
  out.push(`<text x="18" y="${midY}" font-size="13" text-anchor="middle" fill="#222" transform="rotate(-90 18 ${midY})">${escapeXml(axis.label)}</text>`);
  return out;
}

function axisLines(frame: Frame): string[] {
  return [
    `<line x1="${frame.left}" y1="${frame.bottom}" x2="${frame.right}" y2="${frame.bottom}" stroke="#333" stroke-width="1.2"/>`,
    `<line x1="${frame.left}" y1="${frame.top}" x2="${frame.left}" y2="${frame.bottom}" stroke="#333" stroke-width="1.2"/>`,
  ];
}

function xTitle(frame: Frame, label: string): string {
  return `<text x="${(frame.left + frame.right) / 2}" y="${frame.height - 14}" font-size="13" text-anchor="middle" fill="#222">${escapeXml(label)}</text>`;
}

function legend(frame: Frame, entries: Array<{ name: string; color: string; dashed: boolean; kind: 'line' | 'box' }>): string[] {
  if (entries.length === 0) return [];
  const x = frame.right + 16;
  const out: string[] = [];
  entries.forEach((e, i) => {
    const y = frame.top + 8 + i * 20;
    if (e.kind === 'line') {
      const dash = e.dashed ? ' stroke-dasharray="6 4"' : '';
      out.push(`<line x1="${x}" y1="${y}" x2="${x + 24}" y2="${y}" stroke="${e.color}" stroke-width="2.5"${dash}/>`);
      out.push(`<circle cx="${x + 12}" cy="${y}" r="3" fill="${e.color}"/>`);
    } else {
      out.push(`<rect x="${x + 4}" y="${y - 7}" width="16" height="14" fill="${e.color}"/>`);
    }
    const maxChars = Math.floor((frame.width - x - 34) / (12 * 0.6));
    const name = e.name.length > maxChars ? `${e.name.slice(0, Math.max(1, maxChars - 1))}…` : e.name;
    out.push(`<text x="${x + 32}" y="${y}" dy="0.35em" font-size="12" fill="#222">${escapeXml(name)}</text>`);
  });
  return out;
}

/** A line chart as a standalone SVG document. */
export function lineChartSvg(spec: LineChartSpec): string {
  const frame = frameFor(spec.width ?? 760, spec.height ?? 440, spec.series.map((s) => s.name));
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of spec.series) {
    for (const [x, y] of s.points) {
      if (Number.isFinite(x)) xs.push(x);
      if (y !== null && Number.isFinite(y)) ys.push(y);
    }
  }
  const xt = niceTicks(spec.x.min ?? Math.min(...xs), spec.x.max ?? Math.max(...xs), 6);
  const yt = niceTicks(spec.y.min ?? Math.min(...ys), spec.y.max ?? Math.max(...ys), 5);
  const xLo = spec.x.min ?? xt.lo;
  const xHi = spec.x.max ?? xt.hi;
  const yLo = spec.y.min ?? yt.lo;
  const yHi = spec.y.max ?? yt.hi;
  const toX = (v: number) => frame.left + ((v - xLo) / (xHi - xLo || 1)) * (frame.right - frame.left);
  const toY = (v: number) => frame.bottom - ((v - yLo) / (yHi - yLo || 1)) * (frame.bottom - frame.top);
  const out = header(frame, spec.title);
  out.push(...yAxis(frame, yt.ticks.filter((t) => t >= yLo - 1e-12 && t <= yHi + 1e-12), yt.step, toY, spec.y));
  const xfmt = spec.x.format ?? formatNumber;
  for (const t of xt.ticks.filter((v) => v >= xLo - 1e-12 && v <= xHi + 1e-12)) {
    const x = toX(t).toFixed(1);
    out.push(`<line x1="${x}" y1="${frame.bottom}" x2="${x}" y2="${frame.bottom + 5}" stroke="#333" stroke-width="1"/>`);
    out.push(`<text x="${x}" y="${frame.bottom + 19}" font-size="12" text-anchor="middle" fill="#333">${escapeXml(xfmt(t, xt.step))}</text>`);
  }
  out.push(...axisLines(frame));
  out.push(xTitle(frame, spec.x.label));
  if (xs.length === 0) {
    out.push(`<text x="${(frame.left + frame.right) / 2}" y="${(frame.top + frame.bottom) / 2}" font-size="14" text-anchor="middle" fill="#888">no data</text>`);
  }
  out.push(`<g>`);
  spec.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    let path = '';
    let pen = false;
    for (const [x, y] of s.points) {
      if (y === null || !Number.isFinite(y) || !Number.isFinite(x)) {
        pen = false;
        continue;
      }
      path += `${pen ? 'L' : 'M'}${toX(x).toFixed(1)},${toY(y).toFixed(1)} `;
      pen = true;
    }
    if (path !== '') out.push(`<path d="${path.trim()}" fill="none" stroke="${color}" stroke-width="2.2" stroke-linejoin="round"${dash}/>`);
    for (const [x, y] of s.points) {
      if (y === null || !Number.isFinite(y) || !Number.isFinite(x)) continue;
      out.push(`<circle cx="${toX(x).toFixed(1)}" cy="${toY(y).toFixed(1)}" r="3" fill="${color}"/>`);
    }
  });
  out.push('</g>');
  out.push(
    ...legend(
      frame,
      spec.series.map((s, i) => ({ name: s.name, color: s.color ?? PALETTE[i % PALETTE.length]!, dashed: s.dashed ?? false, kind: 'line' as const })),
    ),
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** A grouped bar chart (one group of bars per category, one colour per group) as a standalone SVG document. */
export function barChartSvg(spec: BarChartSpec): string {
  const frame = frameFor(spec.width ?? 760, spec.height ?? 440, spec.groups.map((g) => g.name));
  const values = spec.groups.flatMap((g) => g.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const yt = niceTicks(spec.y.min ?? Math.min(0, ...values), spec.y.max ?? Math.max(0, ...values), 5);
  const yLo = spec.y.min ?? yt.lo;
  const yHi = spec.y.max ?? yt.hi;
  const toY = (v: number) => frame.bottom - ((v - yLo) / (yHi - yLo || 1)) * (frame.bottom - frame.top);
  const out = header(frame, spec.title);
  out.push(...yAxis(frame, yt.ticks.filter((t) => t >= yLo - 1e-12 && t <= yHi + 1e-12), yt.step, toY, spec.y));
  const slot = (frame.right - frame.left) / Math.max(1, spec.categories.length);
  const groups = Math.max(1, spec.groups.length);
  const barWidth = (slot * 0.8) / groups;
  const fmt = spec.y.format ?? formatNumber;
  spec.categories.forEach((category, c) => {
    const cx = frame.left + slot * (c + 0.5);
    out.push(`<line x1="${cx.toFixed(1)}" y1="${frame.bottom}" x2="${cx.toFixed(1)}" y2="${frame.bottom + 5}" stroke="#333" stroke-width="1"/>`);
    out.push(`<text x="${cx.toFixed(1)}" y="${frame.bottom + 19}" font-size="12" text-anchor="middle" fill="#333">${escapeXml(category)}</text>`);
    spec.groups.forEach((g, k) => {
      const v = g.values[c];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const x = cx - (slot * 0.8) / 2 + k * barWidth;
      const y0 = toY(Math.max(yLo, Math.min(0, yHi)));
      const y1 = toY(Math.max(yLo, Math.min(v, yHi)));
      const color = g.color ?? PALETTE[k % PALETTE.length]!;
      const top = Math.min(y0, y1);
      out.push(
        `<rect x="${(x + 1).toFixed(1)}" y="${top.toFixed(1)}" width="${Math.max(1, barWidth - 2).toFixed(1)}" height="${Math.abs(y1 - y0).toFixed(1)}" fill="${color}"><title>${escapeXml(`${g.name} ${category}: ${fmt(v, yt.step / 100)}`)}</title></rect>`,
      );
    });
  });
  out.push(...axisLines(frame));
  out.push(xTitle(frame, spec.xLabel));
  out.push(
    ...legend(
      frame,
      spec.groups.map((g, k) => ({ name: g.name, color: g.color ?? PALETTE[k % PALETTE.length]!, dashed: false, kind: 'box' as const })),
    ),
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Renders an SVG document to PNG at `scale` x its size (2 = crisp on high-density screens and in print). */
export async function svgToPng(svg: string, scale = 2): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * scale }).png().toBuffer();
}

/** Writes `<base>.svg` and `<base>.png`; returns both paths. */
export async function writeChart(svg: string, base: string, scale = 2): Promise<{ svg: string; png: string }> {
  mkdirSync(dirname(base), { recursive: true });
  const paths = { svg: `${base}.svg`, png: `${base}.png` };
  writeFileSync(paths.svg, svg);
  writeFileSync(paths.png, await svgToPng(svg, scale));
  return paths;
}
