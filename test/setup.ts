// Every test runs on the pure-JS cpu backend unless it selects another one itself.
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';

await tf.setBackend('cpu');
