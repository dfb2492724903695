import { lineChartSvg, barChartSvg, writeChart, percentFormat } from '/work/wt-collapse/src/analysis/plots.js';
const stages = ['stem','res2','res3','res4','res5','fpn','head-cls','head-box'];
const series = stages.map((s, i) => ({ name: s, points: [0, 100, 200, 300, 400].map((x) => [x, Math.min(1, 0.02*i + x/4000 * (i%3))] as [number, number]) }));
await writeChart(lineChartSvg({ title: 'Dead channels per stage — bn, sgd, lr 0.02', x: { label: 'iteration' }, y: { label: 'dead channels (% of stage)', min: 0, format: percentFormat }, series }), '/tmp/plots/line');
await writeChart(barChartSvg({ title: 'Dead channels at the end', xLabel: 'stage', y: { label: 'dead channels (% of stage)', min: 0, format: percentFormat }, categories: stages, groups: [{ name: 'bn sgd lr=0.01', values: stages.map((_, i) => 0.03*i) }, { name: 'psbn sgd lr=0.01', values: stages.map((_, i) => i === 5 ? null : 0.01*i) }] }), '/tmp/plots/bar');
