import type * as tf from '@tensorflow/tfjs-core';
import type { Config } from '../config/types.js';
import { CocoDataset, datasetSplitPaths } from '../data/coco.js';
import { loadSample } from '../data/loader.js';
import { ensureShapesDataset } from '../data/shapes.js';
import { batchToTensor } from '../data/tensor.js';
import { padTo } from '../data/transforms.js';

/** The data root a config names, or the embedded shapes set (generated under data/shapes on first use). */
export async function dataRoot(config: Config): Promise<string> {
  return config.data.root ?? (await ensureShapesDataset());
}

/**
 * The fixed probe set: the first `collapse.probeImages` images (by id) of the val split, each resized as for
 * testing (testMinSize / maxSize, no flip), normalised and padded to the size divisor on its own, yielded as a
 * [1, H, W, 3] tensor the consumer disposes (measureCollapse does). One image per batch, so no image is padded to
 * another's size.
 */
export async function* probeBatches(config: Config, root?: string): AsyncGenerator<tf.Tensor4D> {
  const dir = root ?? (config.data.valAnnotationFile !== null ? null : await dataRoot(config));
  const { annotationFile, imageDir } = datasetSplitPaths(config.data, 'val', dir);
  const dataset = CocoDataset.load(annotationFile, imageDir, { forTraining: false, limit: config.collapse.probeImages });
  for (const record of dataset.images) {
    const sample = await loadSample(dataset, record.id, { minSize: config.input.testMinSize, maxSize: config.input.maxSize, flip: false });
    const batch = {
      samples: [sample],
      paddedHeight: padTo(sample.height, config.input.sizeDivisor),
      paddedWidth: padTo(sample.width, config.input.sizeDivisor),
    };
    yield batchToTensor(batch, config.input.pixelMean, config.input.pixelStd);
  }
}
