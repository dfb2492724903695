import { describe, expect, it } from 'vitest';
import { BELOW_LOW_THRESHOLD, BETWEEN_THRESHOLDS, matchAnchors } from '../../src/boxes/matcher.js';

const LQ = { highThreshold: 0.5, lowThreshold: 0.4, allowLowQuality: true };
const NO_LQ = { ...LQ, allowLowQuality: false };
const m = (rows: number[][], opts = LQ): number[] =>
  Array.from(matchAnchors(new Float32Array(rows.flat()), rows.length, rows[0]?.length ?? 0, opts));

describe('matchAnchors', () => {
  it('uses the explicit constants -1 (background) and -2 (ignore)', () => {
    expect(BELOW_LOW_THRESHOLD).toBe(-1);
    expect(BETWEEN_THRESHOLDS).toBe(-2);
  });

  it('splits by the thresholds: >= 0.5 matched, [0.4, 0.5) ignored, < 0.4 background', () => {
    // one gt; anchors at IoU 0.6, 0.5 (inclusive high), 0.45, 0.4 (inclusive low), 0.39
    expect(m([[0.6, 0.5, 0.45, 0.4, 0.39]], NO_LQ)).toEqual([0, 0, -2, -2, -1]);
  });

  it('gives every anchor background when there is no ground truth', () => {
    expect(Array.from(matchAnchors(new Float32Array(0), 0, 4, LQ))).toEqual([-1, -1, -1, -1]);
    expect(matchAnchors(new Float32Array(0), 3, 0, LQ).length).toBe(0);
  });

  it('ignores everything when every best IoU lies between the thresholds (no low-quality matches)', () => {
    expect(m([[0.45, 0.42], [0.41, 0.49]], NO_LQ)).toEqual([-2, -2]);
    // with low-quality matches each gt claims its best anchor: gt0 -> anchor0 (0.45), gt1 -> anchor1 (0.49)
    expect(m([[0.45, 0.42], [0.41, 0.49]], LQ)).toEqual([0, 1]);
  });

  it('breaks argmax ties towards the lower ground-truth index, like torch.max', () => {
    expect(m([[0.7, 0.1], [0.7, 0.8]], NO_LQ)).toEqual([0, 1]);
  });

  it('adds low-quality matches for every anchor tied at a ground truth\'s highest IoU', () => {
    // gt0 peaks at 0.3 on anchors 0 and 2 (a tie): both matched; anchor 1 stays background
    expect(m([[0.3, 0.2, 0.3]], NO_LQ)).toEqual([-1, -1, -1]);
    expect(m([[0.3, 0.2, 0.3]], LQ)).toEqual([0, -1, 0]);
  });

  it('gives a low-quality anchor its own best ground truth, not the one that claimed it', () => {
    // gt0 peaks on anchor 0 (0.3), but anchor 0's best gt is gt1 (0.35): it is matched to 1 (torchvision: [1, -1, -1])
    expect(m([[0.3, 0.1, 0.0], [0.35, 0.2, 0.0]], LQ)).toEqual([1, -1, -1]);
  });

  it('reproduces torchvision for a ground truth that overlaps no anchor (its highest IoU is 0)', () => {
    // gt1's row is all zeros, so every anchor "ties" at its highest IoU and takes its own best gt (gt0, first
    // index among zeros for anchor 2). torchvision 0.14 Matcher(0.5, 0.4, True) gives [0, 0, 0].
    expect(m([[0.6, 0.1, 0.0], [0, 0, 0]], LQ)).toEqual([0, 0, 0]);
  });

  it('compares with the thresholds rounded to float32, as torch does', () => {
    // float32(0.7) = 0.69999998808 < 0.7: torch's (iou >= 0.7) is true for an IoU of float32(0.7)
    const iou = Math.fround(0.7);
    expect(m([[iou]], { highThreshold: 0.7, lowThreshold: 0.4, allowLowQuality: false })).toEqual([0]);
  });

  it('rejects a matrix of the wrong size and crossed thresholds', () => {
    expect(() => matchAnchors(new Float32Array(5), 2, 3, LQ)).toThrow('expected 2 x 3');
    expect(() => matchAnchors(new Float32Array(1), 1, 1, { ...LQ, lowThreshold: 0.6 })).toThrow('exceeds');
  });
});
