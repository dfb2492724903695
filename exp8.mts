import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from './src/backend/index.js';
await selectBackend('wasm');
const C=256,M=8192,K=256;
const a = tf.randomNormal([C,M]) as tf.Tensor2D;
const b = tf.randomNormal([M,K]) as tf.Tensor2D;
const x = tf.randomNormal([2,64,64,C]) as tf.Tensor4D;
const w = tf.randomNormal([3,3,C,K]) as tf.Tensor4D;
async function time(name: string, f: () => tf.Tensor, gflop: number, reps=5) {
  const ts: number[] = [];
  for (let i=0;i<reps;i++){ const t0=performance.now(); const r=f(); await r.data(); r.dispose(); ts.push(performance.now()-t0); }
  ts.sort((p,q)=>p-q); const med=ts[Math.floor(reps/2)]!; console.log(name, med.toFixed(0),'ms', (gflop/med*1000).toFixed(1), 'GFLOP/s');
}
const g1 = 2*C*M*K/1e9;
for (let round=0; round<2; round++) {
await time('matmul [C,M]x[M,K]', () => tf.matMul(a,b), g1);
await time('matmul b^T given', () => tf.matMul(a, tf.transpose(b), false, true), g1);
await time('1x1 conv [1,1,C,M]*[1,1,M,K]', () => tf.conv2d(tf.reshape(a,[1,1,C,M]) as tf.Tensor4D, tf.reshape(b,[1,1,M,K]) as tf.Tensor4D, 1, 'valid'), g1);
await time('1x1 conv [1,C,1,M]', () => tf.conv2d(tf.reshape(a,[1,C,1,M]) as tf.Tensor4D, tf.reshape(b,[1,1,M,K]) as tf.Tensor4D, 1, 'valid'), g1);
await time('conv fwd 3x3', () => tf.conv2d(x,w,1,'same'), 2*2*64*64*C*K*9/1e9, 3);
}
