import { describe, expect, it } from 'vitest';
import { encodeBoxes } from '../../src/boxes/box-coder.js';
import { assignBatchTargets, assignTargets, BACKGROUND, IGNORE } from '../../src/boxes/targets.js';
import { defaultConfig } from '../../src/config/defaults.js';

const CFG = defaultConfig().model;

// Five anchors along a row, 10x10 each
const ANCHORS = new Float32Array([
  0, 0, 10, 10, // a0
  10, 0, 20, 10, // a1
  20, 0, 30, 10, // a2
  30, 0, 40, 10, // a3
  40, 0, 50, 10, // a4
]);

describe('assignTargets', () => {
  it('labels foreground, ignore and background anchors and encodes boxes of foreground only', () => {
    // gt0 = [0,0,10,10] label 3: IoU 1 with a0 -> foreground.
    // gt1 = [12,0,24,10] label 7: with a1 8x10=80 / (100+120-80) = 0.571 -> foreground;
    //   with a2 4x10=40 / (100+120-40) = 0.222 -> background. a3, a4 overlap nothing -> background.
    const gt = { boxes: new Float32Array([0, 0, 10, 10, 12, 0, 24, 10]), labels: new Int32Array([3, 7]), crowdBoxes: new Float32Array(0) };
    const t = assignTargets(ANCHORS, gt, CFG);
    expect(Array.from(t.clsTargets)).toEqual([3, 7, BACKGROUND, BACKGROUND, BACKGROUND]);
    expect(t.numForeground).toBe(2);
    expect(Array.from(t.matchedIdxs)).toEqual([0, 1, -1, -1, -1]);
    expect(Array.from(t.boxTargets.subarray(0, 4))).toEqual([0, 0, 0, 0]); // a0 is exactly gt0
    const expected = encodeBoxes(ANCHORS.subarray(4, 8), gt.boxes.subarray(4, 8), CFG.boxCoderWeights);
    expect(Array.from(t.boxTargets.subarray(4, 8))).toEqual(Array.from(expected));
    expect(Array.from(t.boxTargets.subarray(8))).toEqual(new Array(12).fill(0));
    expect(Array.from(t.matchedBoxes.subarray(4, 8))).toEqual([12, 0, 24, 10]);
  });

  it('ignores anchors between the thresholds', () => {
    // gt [13,0,25,10] vs a1: 7x10 = 70 / (100+120-70) = 0.467 (in [0.4, 0.5)) -> ignore;
    //   vs a2: 5x10 = 50 / (100+120-50) = 0.294 -> background.
    // With low-quality matches a1 is gt's best anchor so it becomes foreground; turn them off to see the ignore.
    const gt = { boxes: new Float32Array([13, 0, 25, 10]), labels: new Int32Array([1]), crowdBoxes: new Float32Array(0) };
    const noLq = assignTargets(ANCHORS, gt, { ...CFG, matcherAllowLowQuality: false });
    expect(Array.from(noLq.clsTargets)).toEqual([-1, IGNORE, -1, -1, -1]);
    expect(noLq.numForeground).toBe(0);
    const lq = assignTargets(ANCHORS, gt, CFG);
    expect(Array.from(lq.clsTargets)).toEqual([-1, 1, -1, -1, -1]);
  });

  it('makes every anchor background for an image without ground truth', () => {
    const t = assignTargets(ANCHORS, { boxes: new Float32Array(0), labels: new Int32Array(0), crowdBoxes: new Float32Array(0) }, CFG);
    expect(Array.from(t.clsTargets)).toEqual([-1, -1, -1, -1, -1]);
    expect(t.numForeground).toBe(0);
    expect(t.boxTargets.every((v) => v === 0)).toBe(true);
  });

  it('ignores non-foreground anchors lying at least half inside a crowd region, never foreground ones', () => {
    // gt [0,0,10,10] label 2 on a0. crowd [0,0,35,10]: a0 fully inside but foreground -> stays 2;
    // a1, a2 fully inside -> ignore; a3 [30,0,40,10] half inside (50/100 = 0.5 >= 0.5) -> ignore; a4 outside -> bg.
    const gt = { boxes: new Float32Array([0, 0, 10, 10]), labels: new Int32Array([2]), crowdBoxes: new Float32Array([0, 0, 35, 10]) };
    const t = assignTargets(ANCHORS, gt, CFG);
    expect(Array.from(t.clsTargets)).toEqual([2, IGNORE, IGNORE, IGNORE, BACKGROUND]);
    // a crowd region alone, with no other ground truth, also only ignores
    const crowdOnly = assignTargets(ANCHORS, { ...gt, boxes: new Float32Array(0), labels: new Int32Array(0) }, CFG);
    expect(Array.from(crowdOnly.clsTargets)).toEqual([IGNORE, IGNORE, IGNORE, IGNORE, BACKGROUND]);
    expect(crowdOnly.numForeground).toBe(0);
    // a stricter threshold keeps a3 (0.5) as background
    const strict = assignTargets(ANCHORS, gt, CFG, { crowdIoaThreshold: 0.6 });
    expect(Array.from(strict.clsTargets)).toEqual([2, IGNORE, IGNORE, BACKGROUND, BACKGROUND]);
  });

  it('rejects a degenerate ground-truth box, naming it', () => {
    const gt = { boxes: new Float32Array([0, 0, 10, 10, 5, 5, 5, 9]), labels: new Int32Array([0, 1]), crowdBoxes: new Float32Array(0) };
    expect(() => assignTargets(ANCHORS, gt, CFG)).toThrow('ground-truth box 1 [5, 5, 5, 9] must have positive width and height');
  });

  it('rejects labels that do not match the boxes', () => {
    const gt = { boxes: new Float32Array(8), labels: new Int32Array(1), crowdBoxes: new Float32Array(0) };
    expect(() => assignTargets(ANCHORS, gt, CFG)).toThrow('2 boxes but 1 labels');
  });
});

describe('assignBatchTargets', () => {
  it('concatenates per-image targets', () => {
    const empty = { boxes: new Float32Array(0), labels: new Int32Array(0), crowdBoxes: new Float32Array(0) };
    const one = { boxes: new Float32Array([40, 0, 50, 10]), labels: new Int32Array([5]), crowdBoxes: new Float32Array(0) };
    const t = assignBatchTargets(ANCHORS, [empty, one], CFG);
    expect(Array.from(t.clsTargets)).toEqual([-1, -1, -1, -1, -1, -1, -1, -1, -1, 5]);
    expect(t.numForeground).toEqual([0, 1]);
    expect(t.boxTargets.length).toBe(40);
  });
});
