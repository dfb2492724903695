/**
 * Runs every benchmark one after another, each beside its peer (pycocotools where installed, PyTorch /
 * torchvision from /usr/bin/python3) in the same run, and prints their tables as they come.
 *
 *   npm run bench                  # all of them
 *   npm run bench -- eval data     # a selection
 *
 * Each one is also `npm run bench:<name>` with its own flags (see the header of bench/<name>.ts).
 */
import { spawnSync } from 'node:child_process';

const ALL = ['eval', 'data', 'boxes', 'ops', 'model', 'train', 'infer', 'collapse-probe'];
const chosen = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = chosen.filter((name) => !ALL.includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')} (choose from ${ALL.join(', ')})`);
  process.exit(2);
}
const failed: string[] = [];
for (const name of chosen.length > 0 ? chosen : ALL) {
  console.log(`\n## bench:${name}\n`);
  const r = spawnSync('npm', ['run', '--silent', `bench:${name}`], { stdio: 'inherit' });
  if (r.status !== 0) failed.push(name);
}
if (failed.length > 0) {
  console.error(`\nfailed: ${failed.join(', ')}`);
  process.exit(1);
}
