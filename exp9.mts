import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from './src/backend/index.js';
await selectBackend('wasm');
const C=256,M=8192,K=256;
const a = tf.randomNormal([C,M]) as tf.Tensor2D;
const b = tf.randomNormal([M,K]) as tf.Tensor2D;
const fs: [string, () => tf.Tensor][] = [
 ['matmul', () => tf.matMul(a,b)],
 ['conv [1,C,1,M]', () => tf.conv2d(tf.reshape(a,[1,C,1,M]) as tf.Tensor4D, tf.reshape(b,[1,1,M,K]) as tf.Tensor4D, 1, 'valid')],
 ['conv [C,1,1,M]', () => tf.conv2d(tf.reshape(a,[C,1,1,M]) as tf.Tensor4D, tf.reshape(b,[1,1,M,K]) as tf.Tensor4D, 1, 'valid')],
];
const best = fs.map(() => Infinity);
for (let r=0;r<8;r++) for (let i=0;i<fs.length;i++){ const t0=performance.now(); const y=fs[i]![1](); await y.data(); y.dispose(); best[i]=Math.min(best[i]!, performance.now()-t0); }
fs.forEach(([n],i)=>console.log(n, best[i]!.toFixed(0), 'ms', (2*C*M*K/1e6/best[i]!).toFixed(1), 'GFLOP/s (best of 8)'));
