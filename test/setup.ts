// Every test runs on the pure-JS cpu backend unless it selects another one itself. selectBackend also registers
// tfjs-core's gradients (not part of its Node bundle) and the project's cpu kernel repairs.
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../src/backend/index.js';

await selectBackend('cpu');
if (tf.getBackend() !== 'cpu') throw new Error('test setup: cpu backend not active');
