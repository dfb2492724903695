/**
 * The charts of the collapse studies as Vega-Lite specs (rendered by src/util/charts.ts): ratios against iteration
 * (one line per series) and ratios per category (grouped bars). Every measurement is a marker, so a series with one
 * measurement is a visible point; each series has its own colour, its own hollow marker shape and its own marker
 * size (the first series largest), so markers of series that coincide (several stages at 0 %) nest inside each other
 * and every one stays visible. Ratio axes start at 0 and show at least 0..10 %. `writeChart` writes the SVG and PNG
 * of a spec.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { renderChart, type ChartSpec } from '../util/charts.js';

/** A categorical palette that stays distinguishable in print and for common colour-vision deficiencies. */
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** Marker shapes, one per series in order (then repeating). */
export const SHAPES = ['circle', 'square', 'triangle-up', 'diamond', 'cross', 'triangle-down', 'triangle-right', 'triangle-left'];

/** Marker width in px of the last series, and how much wider each series before it is (so coinciding ones nest). */
const MARKER_WIDTH = 6;
const MARKER_STEP = 3;

export interface RatioSeries {
  name: string;
  /** (iteration, ratio 0..1) in iteration order; a null ratio (not measured) is left out. */
  points: Array<[number, number | null]>;
  /** A legend group drawn as a dash pattern (e.g. the run's norm); series without one are drawn solid. */
  group?: string;
}

export interface RatioLinesChart {
  title: string;
  /** y-axis title, e.g. "dead channels (% of stage)". */
  yTitle: string;
  /** Title of the dash-pattern legend when series have a `group`. */
  groupTitle?: string;
  series: RatioSeries[];
  /** Plot area in pixels (default 560 x 300). */
  width?: number;
  height?: number;
}

export interface RatioBarGroup {
  name: string;
  /** One ratio per category; null draws nothing (the figure does not apply). */
  values: Array<number | null>;
}

export interface RatioBarsChart {
  title: string;
  /** Category-axis title, e.g. "stage". */
  xTitle: string;
  yTitle: string;
  categories: string[];
  groups: RatioBarGroup[];
  /** Upper end of the y axis; default the largest value, at least 10 %. */
  yMax?: number;
  width?: number;
  height?: number;
}

/** Colour and shape scales over `names` in their order. */
function seriesScales(names: string[]) {
  const n = Math.max(1, names.length);
  const colour = { domain: names, range: Array.from({ length: n }, (_, i) => PALETTE[i % PALETTE.length]!) };
  const shape = { domain: names, range: Array.from({ length: n }, (_, i) => SHAPES[i % SHAPES.length]!) };
  return { colour, shape };
}

/** Marker areas (Vega's symbol size: the square of the width), one per series, largest first: 144, 81, 36 for three. */
export function markerSizes(count: number): number[] {
  return Array.from({ length: count }, (_, i) => (MARKER_WIDTH + (count - 1 - i) * MARKER_STEP) ** 2);
}

function names<T extends { name: string }>(items: T[]): string[] {
  return items.map((s) => s.name).filter((n, i, all) => all.indexOf(n) === i);
}

/**
 * Ratios against iteration: a line per series with a hollow marker on every measurement (iteration 0 included when
 * the data has it). Marker and colour legend per series; dash pattern per `group` when given.
 */
export function ratioLinesSpec(chart: RatioLinesChart): ChartSpec {
  const order = names(chart.series);
  const sizes = markerSizes(order.length);
  const values = chart.series.flatMap((s) =>
    s.points
      .filter((p): p is [number, number] => p[1] !== null && Number.isFinite(p[1]) && Number.isFinite(p[0]))
      .map(([iteration, ratio]) => ({ series: s.name, group: s.group ?? '', iteration, ratio, size: sizes[order.indexOf(s.name)]! })),
  );
  const { colour, shape } = seriesScales(order);
  const groups = [...new Set(values.map((v) => v.group))];
  const dashed = chart.series.some((s) => s.group !== undefined);
  const legend = { title: null, symbolStrokeWidth: 1.6, labelLimit: 400 };
  const x = { field: 'iteration', type: 'quantitative', title: 'iteration', scale: { zero: true, nice: true }, axis: { tickMinStep: 1, format: 'd' } } as const;
  const y = {
    field: 'ratio',
    type: 'quantitative',
    title: chart.yTitle,
    scale: { domainMin: 0, domainMax: Math.max(0.1, ...values.map((v) => v.ratio)), nice: true },
    axis: { format: '.0%' },
  } as const;
  return {
    title: { text: chart.title },
    width: chart.width ?? 560,
    height: chart.height ?? 300,
    data: { values },
    layer: [
      {
        mark: { type: 'line', strokeWidth: 1.6, opacity: 0.85 },
        encoding: {
          x,
          y,
          detail: { field: 'series', type: 'nominal' },
          color: { field: 'series', type: 'nominal', scale: colour, sort: order, legend },
          ...(dashed ? { strokeDash: { field: 'group', type: 'nominal', title: chart.groupTitle ?? null, scale: { domain: groups } } } : {}),
        },
      },
      {
        mark: { type: 'point', filled: false, strokeWidth: 1.6, opacity: 1 },
        encoding: {
          x,
          y,
          size: { field: 'size', type: 'quantitative', scale: null, legend: null },
          color: { field: 'series', type: 'nominal', scale: colour, sort: order, legend },
          shape: { field: 'series', type: 'nominal', scale: shape, sort: order, legend },
          tooltip: [
            { field: 'series', type: 'nominal' },
            { field: 'iteration', type: 'quantitative' },
            { field: 'ratio', type: 'quantitative', format: '.1%' },
          ],
        },
      },
    ],
  } as ChartSpec;
}

/**
 * Ratios per category as grouped bars (a colour per group), with the group's marker on top of each bar, so a bar
 * of 0 is still a visible mark on the axis.
 */
export function ratioBarsSpec(chart: RatioBarsChart): ChartSpec {
  const order = names(chart.groups);
  const values = chart.groups.flatMap((g) =>
    chart.categories.flatMap((category, c) => {
      const ratio = g.values[c];
      return ratio === null || ratio === undefined || !Number.isFinite(ratio) ? [] : [{ group: g.name, category, ratio }];
    }),
  );
  const { colour, shape } = seriesScales(order);
  const legend = { title: null, labelLimit: 400 };
  const x = { field: 'category', type: 'nominal', title: chart.xTitle, sort: chart.categories, scale: { domain: chart.categories }, axis: { labelAngle: 0 } } as const;
  const y = {
    field: 'ratio',
    type: 'quantitative',
    title: chart.yTitle,
    scale: { domainMin: 0, domainMax: chart.yMax ?? Math.max(0.1, ...values.map((v) => v.ratio)), nice: chart.yMax === undefined },
    axis: { format: '.0%' },
  } as const;
  const xOffset = { field: 'group', type: 'nominal', sort: order, scale: { domain: order, paddingInner: 0.1 } } as const;
  return {
    title: { text: chart.title },
    width: chart.width ?? Math.max(360, chart.categories.length * Math.max(1, order.length) * 14),
    height: chart.height ?? 300,
    data: { values },
    layer: [
      {
        mark: { type: 'bar', opacity: 0.8 },
        encoding: { x, y, xOffset, color: { field: 'group', type: 'nominal', scale: colour, sort: order, legend } },
      },
      {
        mark: { type: 'point', filled: true, size: 34, opacity: 1, stroke: '#222', strokeWidth: 0.6 },
        encoding: {
          x,
          y,
          xOffset,
          color: { field: 'group', type: 'nominal', scale: colour, sort: order, legend },
          shape: { field: 'group', type: 'nominal', scale: shape, sort: order, legend },
          tooltip: [
            { field: 'group', type: 'nominal' },
            { field: 'category', type: 'nominal' },
            { field: 'ratio', type: 'quantitative', format: '.1%' },
          ],
        },
      },
    ],
  } as ChartSpec;
}

/** Renders `spec` to `<base>.svg` and `<base>.png` (PNG at `scale` x the SVG's size), each replaced atomically. */
export async function writeChart(spec: ChartSpec, base: string, scale = 2): Promise<{ svg: string; png: string }> {
  mkdirSync(dirname(base), { recursive: true });
  const { svg, png } = await renderChart(spec, scale);
  const paths = { svg: `${base}.svg`, png: `${base}.png` };
  for (const [path, data] of [
    [paths.svg, svg],
    [paths.png, png],
  ] as const) {
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  }
  return paths;
}
