import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, removeRepairs, installRepairs } from './src/backend/index.js';
await selectBackend('cpu');
const x = tf.randomNormal([2,32,32,64]) as tf.Tensor4D, dy = tf.randomNormal([2,32,32,64]) as tf.Tensor4D;
const g = 2*2*32*32*64*64*9/1e9;
const run = () => { const t0=performance.now(); const y = tf.engine().runKernel('Conv2DBackpropFilter', {x, dy}, {strides:1,pad:'same',dataFormat:'NHWC',filterShape:[3,3,64,64]} as any) as tf.Tensor; y.dataSync(); y.dispose(); return performance.now()-t0; };
run(); console.log('repaired', (g/run()*1000).toFixed(2), 'GFLOP/s');
removeRepairs('cpu'); console.log('own cpu kernel', (g/run()*1000).toFixed(3), 'GFLOP/s'); installRepairs('cpu');
