/**
 * Charts from declarative specs, rendered on the server without a browser: a Vega-Lite spec is compiled to Vega,
 * run headless and written out as an SVG string; sharp (librsvg) turns the SVG into a PNG.
 *
 * Vega-Lite (https://vega.github.io/vega-lite/) describes a chart as data plus encodings (which field goes on which
 * axis, colour, layer), and lays out axes, ticks, legends and titles itself. See docs/eval.md for why this library.
 */
import sharp from 'sharp';
import { logger, parse, View, Warn } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export type ChartSpec = TopLevelSpec;

/** Fonts of every chart: DejaVu Sans is what librsvg finds on a plain Linux machine. */
export const CHART_FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

/** The look shared by every chart (white background, one font); a spec's own `config` entries win. */
const BASE_CONFIG = {
  background: 'white',
  font: CHART_FONT,
  title: { fontSize: 15, subtitleFontSize: 11, subtitleColor: '#555' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const },
  legend: { labelFontSize: 11, titleFontSize: 11 },
};

/**
 * Renders a Vega-Lite spec to an SVG document. A spec that Vega-Lite warns about (an unknown field type, a channel
 * the mark cannot take) is an error, not a silently different chart.
 */
export async function chartToSvg(spec: ChartSpec): Promise<string> {
  const withConfig = { ...spec, config: { ...BASE_CONFIG, ...(spec.config ?? {}) } } as ChartSpec;
  const problems: string[] = [];
  const collect = logger(Warn, undefined, (_method, level, args) => problems.push(`${level} ${args.map(String).join(' ')}`));
  const vegaSpec = compile(withConfig, { logger: collect }).spec;
  if (problems.length > 0) throw new Error(`chart spec: ${problems.join('; ')}`);
  const view = new View(parse(vegaSpec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Renders an SVG document to PNG at `scale` x its size (2: crisp on high-density screens and in print). */
export async function svgToPng(svg: string, scale = 2): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 72 * scale }).png().toBuffer();
}

/** A chart as SVG text and as PNG bytes. */
export async function renderChart(spec: ChartSpec, scale = 2): Promise<{ svg: string; png: Buffer }> {
  const svg = await chartToSvg(spec);
  return { svg, png: await svgToPng(svg, scale) };
}
