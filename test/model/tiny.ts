import { defaultConfig } from '../../src/config/defaults.js';
import type { ModelConfig } from '../../src/config/types.js';

/** ResNet-18 at 1/16 width, FPN 16, head 2 x 16, 3 classes: the tiny test model. */
export function tinyModelConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return {
    ...defaultConfig().model,
    depth: 18,
    widthMultiplier: 1 / 16,
    norm: 'bn',
    normEval: false,
    normAffineTrainable: true,
    frozenStages: 0,
    fpnChannels: 16,
    headChannels: 16,
    headDepth: 2,
    numClasses: 3,
    ...overrides,
  };
}
