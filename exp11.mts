import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from './src/backend/index.js';
await selectBackend('webgpu');
const x = tf.randomNormal([2,3,2,4,3]);
for (const [name, f] of [
  ['pad5', () => tf.pad(x, [[0,0],[1,0],[0,0],[0,1],[0,0]])],
  ['slice5', () => tf.slice(x, [0,1,0,0,0], [-1,2,1,-1,-1])],
  ['max5', () => tf.maximum(x, tf.neg(x))],
  ['sum5', () => tf.sum(x, 2)],
  ['stridedSlice5', () => tf.stridedSlice(x, [0,0,0,0,0], [2,3,2,4,3], [1,1,2,1,1])],
  ['greaterEqual5', () => tf.greaterEqual(x, tf.neg(x))],
  ['mul5', () => tf.mul(x, x)],
  ['where5', () => tf.where(tf.greater(x, 0), x, tf.neg(x))],
  ['squeeze->', () => tf.squeeze(tf.slice(x, [0,1,0,0,0], [-1,2,1,-1,-1]), [2])],
] as [string, () => tf.Tensor][]) {
  try { const y = f(); const v = await y.data(); console.log(name, 'ok', v[0]); } catch (e) { console.log(name, 'ERR', (e as Error).message.slice(0,80)); }
}
