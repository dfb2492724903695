/**
 * Reading a COCO results file: psdet's streaming reader (src/eval/json-stream.ts, parse + validate straight into
 * typed arrays) beside the npm streaming JSON parsers it was measured against, on the same file, CPU time.
 *
 *   npm run bench:eval                                   # writes .bench/eval/{gt,dt}.json (val2017-sized)
 *   npm install --prefix /tmp/json-peers stream-json@3.8.0 @streamparser/json@0.0.26   # outside the project
 *   node --import tsx bench/json-read.ts [--modules /tmp/json-peers] [GT DT]
 *
 * The peers only parse (each detection handed over as an object, nothing validated); psdet's figure includes
 * validation. A peer that is not installed is reported as such.
 */
import { createReadStream, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readDetections, readGroundTruth } from '../src/eval/coco-json.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function load(modules: string, name: string, sub?: string): Promise<Record<string, unknown> | null> {
  try {
    const path = createRequire(join(modules, 'package.json')).resolve(sub === undefined ? name : `${name}/${sub}`);
    return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Feeds the file to a parser callback chunk by chunk; resolves when the stream ends. */
function pump(path: string, write: (chunk: Buffer) => void): Promise<void> {
  return new Promise((done, fail) => {
    const s = createReadStream(path);
    s.on('data', (d) => write(d as Buffer));
    s.on('end', () => done());
    s.on('error', fail);
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let modules = ROOT;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--modules') modules = resolve(args[++i]!);
    else files.push(args[i]!);
  }
  const [gtPath, dtPath] = files.length === 2 ? files : [join(ROOT, '.bench', 'eval', 'gt.json'), join(ROOT, '.bench', 'eval', 'dt.json')];
  console.log(`results file: ${dtPath} (${(statSync(dtPath).size / 2 ** 20).toFixed(1)} MiB)`);
  const gt = readGroundTruth(gtPath);

  let t = cpuSeconds();
  const dt = readDetections(dtPath, gt);
  console.log(`psdet readDetections (parse + validate into typed arrays): ${dt.score.length} detections, ${(cpuSeconds() - t).toFixed(2)} s CPU`);

  const streamparser = await load(modules, '@streamparser/json');
  if (streamparser === null) console.log('@streamparser/json: not installed (see the usage above)');
  else {
    const JSONParser = streamparser.JSONParser as new (o: object) => { onValue: (v: unknown) => void; write: (b: Buffer) => void };
    t = cpuSeconds();
    let n = 0;
    const p = new JSONParser({ paths: ['$.*'], keepStack: false });
    p.onValue = () => {
      n++;
    };
    await pump(dtPath, (d) => p.write(d));
    console.log(`@streamparser/json (parse only): ${n} records, ${(cpuSeconds() - t).toFixed(2)} s CPU`);
  }

  const streamJson = await load(modules, 'stream-json');
  const streamArrayModule = await load(modules, 'stream-json', 'streamers/stream-array.js');
  const streamChain = await load(modules, 'stream-chain');
  if (streamJson === null || streamArrayModule === null || streamChain === null) console.log('stream-json: not installed (see the usage above)');
  else {
    const chain = (streamChain.chain ?? streamChain.default) as (stages: unknown[]) => NodeJS.ReadableStream;
    t = cpuSeconds();
    let n = 0;
    await new Promise<void>((done, fail) => {
      const out = chain([createReadStream(dtPath), (streamJson.parser as () => unknown)(), (streamArrayModule.streamArray as () => unknown)()]);
      out.on('data', () => {
        n++;
      });
      out.on('end', () => done());
      out.on('error', fail);
    });
    console.log(`stream-json parser + streamArray, in a stream-chain (parse only): ${n} records, ${(cpuSeconds() - t).toFixed(2)} s CPU`);
  }
}

await main();
