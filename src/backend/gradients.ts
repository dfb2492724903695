/**
 * Registers tfjs-core's gradient functions. tfjs 4 ships them outside its Node bundle (`tf-core.node.js`), as
 * ES modules with extension-less relative imports (`./gradients/Abs_grad`) in a package without
 * `"type": "module"`, which Node's ESM loader refuses. A small resolve hook, active only for files inside
 * `@tensorflow/tfjs-core/dist/`, adds the `.js` Node wants and marks them as ES modules. The gradient registry
 * is global (shared by every copy of tfjs-core in the process), so the gradients serve the Node bundle's ops.
 */
import * as tf from '@tensorflow/tfjs-core';
import { register } from 'node:module';

const HOOK = `
const DIST = /\\/@tensorflow\\/tfjs-core\\/dist\\//;
const ESM = (url) => DIST.test(url) && !url.endsWith('.node.js');
export async function resolve(specifier, context, next) {
  const parent = context.parentURL ?? '';
  const relative = specifier.startsWith('./') || specifier.startsWith('../');
  if (!(relative && DIST.test(parent)) && !(DIST.test(specifier) || specifier.includes('tfjs-core/dist/'))) {
    return next(specifier, context);
  }
  let result;
  try {
    result = await next(specifier, context);
  } catch (err) {
    if (!relative) throw err;
    result = null;
    for (const suffix of ['.js', '/index.js']) {
      try { result = await next(specifier + suffix, context); break; } catch {}
    }
    if (result === null) throw err;
  }
  return ESM(result.url) ? { ...result, format: 'module' } : result;
}
`;

let done: Promise<void> | null = null;

/** True once a gradient for a common kernel is registered (by us or by another tfjs package). */
function gradientsPresent(): boolean {
  return tf.getGradient('Conv2D') !== undefined && tf.getGradient('Sum') !== undefined;
}

/** Registers all of tfjs-core's gradients once per process; later calls return the same promise. */
export function registerGradients(): Promise<void> {
  if (done === null) {
    done = (async () => {
      if (gradientsPresent()) return;
      register(`data:text/javascript,${encodeURIComponent(HOOK)}`);
      await import('@tensorflow/tfjs-core/dist/register_all_gradients.js' as string);
      if (!gradientsPresent()) throw new Error('tfjs-core gradients could not be registered');
    })();
  }
  return done;
}
