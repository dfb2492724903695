import { barChartSvg, percentFormat } from '../src/analysis/plots.js';
console.log(barChartSvg({ title: 'd', xLabel: 'stage', y: { label: 'y', min: 0, format: percentFormat }, categories: ['stem', 'res2', 'res3'], groups: [{ name: 'bn', values: [0.1, 0.2, 0.3] }, { name: 'psbn', values: [0.05, null, 0.1] }] }).match(/<title>[^<]*/g));
