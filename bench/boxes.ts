// Benchmark of the pure detection parts and the RetinaNet losses, beside torchvision 0.14 on the same workloads
// in the same run (tools/bench_boxes_peer.py). Run: npx tsx bench/boxes.ts [reps] [torchThreads] [--cpu-losses]
// The loss rows run on tfjs wasm (the fastest backend here); --cpu-losses adds the pure-JS cpu backend (slow).
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { registerGradients } from '../src/backend/gradients.js';
import { anchorsPerLevel, generateAnchors, splitLevels } from '../src/boxes/anchors.js';
import { batchedNms } from '../src/boxes/nms.js';
import { assignBatchTargets, assignTargets } from '../src/boxes/targets.js';
import { defaultConfig } from '../src/config/defaults.js';
import { retinanetLosses, targetTensors } from '../src/model/losses.js';
import { postprocessDetections } from '../src/model/postprocess.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const cpuLosses = process.argv.includes('--cpu-losses');
const reps = Number(args[0] ?? 5);
const torchThreads = Number(args[1] ?? 1);
const cfg = defaultConfig().model;

function medianTime(fn: () => void): number {
  fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    times.push((performance.now() - t0) / 1000);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

/** a * sin(b * i) + c as float32, the same formula as the peer script. */
const formula = (count: number, a: number, b: number, c: number) =>
  Float32Array.from({ length: count }, (_, i) => a * Math.sin(b * i) + c);

/** P3..P7 of a ResNet-FPN: stride 8, then halving with ceil. */
function featureSizes(h: number, w: number): [number, number][] {
  const out: [number, number][] = [];
  let [hh, ww] = [Math.floor(h / 8), Math.floor(w / 8)];
  for (let i = 0; i < 5; i++) {
    out.push([hh, ww]);
    [hh, ww] = [Math.ceil(hh / 2), Math.ceil(ww / 2)];
  }
  return out;
}

const anchorOpts = (h: number, w: number) => ({
  sizes: cfg.anchorSizes, scales: cfg.anchorScales, aspectRatios: cfg.aspectRatios,
  imageHeight: h, imageWidth: w, featureSizes: featureSizes(h, w),
});

await tf.setBackend('cpu');
// tfjs-core's gradients are not in its Node bundle; without them the loss rows would time the forward pass only.
await registerGradients();
const withBackward = tf.getGradient('Sum') !== undefined;
const [H, W] = [800, 1216];
const opts = anchorOpts(H, W);
const anchors = generateAnchors(opts);
const numAnchors = anchors.length / 4;
const GT = Float32Array.from(
  Array.from({ length: 15 }, (_, k) => [50 + 70 * k, 40 + 45 * k, 50 + 70 * k + 30 + 25 * k, 40 + 45 * k + 60 + 10 * k]).flat(),
);
const gt = { boxes: GT, labels: Int32Array.from({ length: 15 }, (_, k) => k), crowdBoxes: new Float32Array(0) };

const nNms = 5000;
const cx = formula(nNms, 500, 0.013, 600);
const cy = formula(nNms, 350, 0.029, 400);
const bw = formula(nNms, 40, 0.7, 90);
const nmsBoxes = new Float32Array(nNms * 4);
for (let i = 0; i < nNms; i++) nmsBoxes.set([cx[i]! - bw[i]! / 2, cy[i]! - bw[i]! / 3, cx[i]! + bw[i]! / 2, cy[i]! + bw[i]! / 3], 4 * i);
const nmsScores = formula(nNms, 0.45, 0.61, 0.5);
const nmsLabels = Int32Array.from({ length: nNms }, (_, i) => (i * 7) % 5);

const K = 80;
const counts = anchorsPerLevel(opts);
const ppLogits = splitLevels(formula(numAnchors * K, 3, 0.37, -4.6), counts, K);
const ppDeltas = splitLevels(formula(numAnchors * 4, 0.5, 0.11, 0), counts, 4);
const ppAnchors = splitLevels(anchors, counts, 4);
const levels = ppAnchors.map((a, l) => ({ anchors: a, logits: ppLogits[l]!, deltas: ppDeltas[l]! }));

// losses: batch 2 at 512 x 512, the training benchmark size
const lAnchors = generateAnchors(anchorOpts(512, 512));
const lA = lAnchors.length / 4;
const scaled = (from: number, to: number) => GT.slice(4 * from, 4 * to).map((v) => v * 0.6);
const lGts = [
  { boxes: scaled(0, 6), labels: Int32Array.from([0, 1, 2, 3, 4, 5]), crowdBoxes: new Float32Array(0) },
  { boxes: scaled(6, 10), labels: Int32Array.from([0, 1, 2, 3]), crowdBoxes: new Float32Array(0) },
];
const lTargets = assignBatchTargets(lAnchors, lGts, cfg);
const lLogits = formula(2 * lA * K, 3, 0.37, -4.6);
const lDeltas = formula(2 * lA * 4, 0.5, 0.11, 0);
const lossStep = () => {
  tf.tidy(() => {
    const t = targetTensors(lTargets, lA);
    const logits = tf.tensor3d(lLogits, [2, lA, K]);
    const deltas = tf.tensor3d(lDeltas, [2, lA, 4]);
    const total = (l: tf.Tensor, d: tf.Tensor) => {
      const { lossCls, lossBox } = retinanetLosses(
        { clsLogits: l as tf.Tensor3D, boxDeltas: d as tf.Tensor3D, ...t, numForeground: lTargets.numForeground },
        cfg,
      );
      return tf.add(lossCls, lossBox);
    };
    if (withBackward) tf.grads(total)([logits, deltas]).forEach((g) => g.dataSync());
    else total(logits, deltas).dataSync();
  });
};

const ours: Record<string, number> = {
  anchors: medianTime(() => generateAnchors(opts)),
  assign: medianTime(() => assignTargets(anchors, gt, cfg)),
  batchedNms: medianTime(() => batchedNms(nmsBoxes, nmsScores, nmsLabels, 0.5)),
  postprocess: medianTime(() => postprocessDetections(levels, K, [H, W], cfg)),
};
const wasm = await tf.setBackend('wasm').catch(() => false);
if (wasm) ours.lossesWasm = medianTime(lossStep);
await tf.setBackend('cpu');
if (cpuLosses || !wasm) ours.losses = medianTime(lossStep);
const numForeground = assignTargets(anchors, gt, cfg).numForeground;
const numKept = batchedNms(nmsBoxes, nmsScores, nmsLabels, 0.5).length;

const peerRun = spawnSync('/usr/bin/python3', ['tools/bench_boxes_peer.py', String(torchThreads), String(reps)], { encoding: 'utf8' });
const peer = peerRun.status === 0 ? (JSON.parse(peerRun.stdout.trim().split('\n').pop()!) as Record<string, number>) : null;
if (!peer) console.error(`torchvision peer failed: ${peerRun.stderr.split('\n').slice(-3).join(' ')}`);

const rows: [string, string][] = [
  ['anchors', `generate ${numAnchors} anchors, ${H}x${W}`],
  ['assign', `IoU 15 gt x ${numAnchors} anchors + matcher + encode`],
  ['batchedNms', `class-wise NMS, ${nNms} boxes, 5 classes`],
  ['postprocess', `threshold/top-k/decode/clip/NMS, ${numAnchors} anchors x ${K} classes`],
  ['lossesWasm', `focal + L1 ${withBackward ? 'forward and backward' : 'FORWARD ONLY (no gradients registered; peer: fwd+bwd)'}, 2 x ${lA} anchors x ${K}, tfjs wasm (1 thread)`],
  ['losses', `the same on tfjs cpu (pure JS)`],
];
console.log(`psdet boxes benchmark: median of ${reps}; torchvision 0.14 on ${torchThreads} thread(s), same run`);
console.log(`checks: foreground anchors ours ${numForeground} / torchvision ${peer?.numForeground ?? '-'}; NMS kept ${numKept} / ${peer?.numKept ?? '-'}`);
console.log('| workload | what | psdet (ms) | torchvision (ms) | psdet / torchvision |');
console.log('| --- | --- | ---: | ---: | ---: |');
for (const [key, what] of rows) {
  if (ours[key] === undefined) continue;
  const o = ours[key]! * 1000;
  const p = peer ? peer[key === 'lossesWasm' ? 'losses' : key]! * 1000 : NaN;
  console.log(`| ${key} | ${what} | ${o.toFixed(1)} | ${peer ? p.toFixed(1) : '-'} | ${peer ? (o / p).toFixed(2) : '-'} |`);
}
