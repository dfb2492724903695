import { describe, expect, it } from 'vitest';
import { probeBatches } from '../../src/analysis/probe-set.js';
import { defaultConfig } from '../../src/config/defaults.js';
import { COCO_MINI, cocoMiniSkip } from '../helpers.js';

const COCO_MINI_SKIP = cocoMiniSkip();

describe.skipIf(COCO_MINI === null)(`probe set on coco-mini ${COCO_MINI_SKIP}`, () => {
  it('yields the first N val images by id, one per batch, resized for testing and padded to the divisor', async () => {
    const config = defaultConfig();
    config.collapse.probeImages = 2;
    config.input.testMinSize = 128;
    config.input.maxSize = 200;
    const shapes: number[][] = [];
    for await (const t of probeBatches(config, COCO_MINI!)) {
      shapes.push(t.shape);
      t.dispose();
    }
    expect(shapes).toHaveLength(2);
    for (const [n, h, w, c] of shapes as [number, number, number, number][]) {
      // Shorter side 128 (longer <= 200), each padded up to a multiple of 32: 128 and 192 or 160.
      expect([n, c]).toEqual([1, 3]);
      expect(h % 32).toBe(0);
      expect(w % 32).toBe(0);
      expect(Math.min(h, w)).toBe(128);
      expect(Math.max(h, w)).toBeLessThanOrEqual(224);
    }
  });
});
