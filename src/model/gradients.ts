/**
 * Registers tfjs-core's gradient functions (abs .. zerosLike), which `@tensorflow/tfjs-core` alone does not do:
 * without them `tf.variableGrads` throws "gradient function not found". tfjs-core ships them only as ES modules
 * with extensionless relative imports, which Node's resolver refuses; a resolve hook scoped to tfjs-core's dist
 * folder adds the missing `.js` / `/index.js`. Under vite (vitest) the import resolves on its own.
 *
 * Imported for its side effect by the model parts that are trained; idempotent.
 */
import * as tf from '@tensorflow/tfjs-core';
import { register } from 'node:module';

const HOOK = `
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    const parent = context.parentURL ?? '';
    if (parent.includes('/@tensorflow/tfjs-core/dist/') && (specifier.startsWith('./') || specifier.startsWith('../'))) {
      for (const suffix of ['.js', '/index.js']) {
        try { return await next(specifier + suffix, context); } catch {}
      }
    }
    throw err;
  }
}`;

async function registerAllGradients(): Promise<void> {
  // Abs is the first of tfjs-core's gradient configs: present means already registered (by us or by tfjs).
  if (tf.getGradient('Abs') !== undefined) return;
  if (process.env.VITEST === undefined) register(`data:text/javascript,${encodeURIComponent(HOOK)}`, import.meta.url);
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
}

await registerAllGradients();
