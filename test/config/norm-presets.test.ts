// --norm means what it says on every shipped config: the preset (bn / psbn: batch statistics in training and
// trained gamma/beta; frozen_bn: neither) reaches the built layers, the printed behaviour is read back from them, and
// a real training step agrees: running statistics move exactly in the layers that use batch statistics, and
// gamma/beta get a non-zero gradient exactly in the layers that train them (frozen stages excepted). Widths are
// shrunk (1/16) so that the six configs x three norms run in seconds; depth, norms and frozen stages are the configs'.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { parseTrainArgs, resolveTrainConfig } from '../../src/cli/train-args.js';
import { NORM_KINDS, normPreset } from '../../src/config/types.js';
import { buildRetinaNet } from '../../src/model/build.js';
import { backboneNorms, normBehaviour } from '../../src/model/resnet.js';
import { Rng } from '../../src/util/rng.js';
import { ROOT } from '../helpers.js';

const CONFIGS = readdirSync(join(ROOT, 'models')).filter((f) => f.endsWith('.json'));
const SMALL = ['model.widthMultiplier=0.0625', 'model.fpnChannels=8', 'model.headChannels=8', 'model.headDepth=1', 'model.numClasses=3'];
/** Norm layers in the stem (1) and in res2 (R18/34: 2 per block, no downsample; R50/101: 3 per block + downsample). */
const FROZEN_NORMS: Record<number, number[]> = { 18: [0, 1, 5], 34: [0, 1, 7], 50: [0, 1, 11], 101: [0, 1, 11] };

describe('--norm presets on every shipped config, checked by a training step', () => {
  it('finds the shipped configs', () => expect(CONFIGS.length).toBeGreaterThanOrEqual(6));

  for (const file of CONFIGS) {
    for (const norm of NORM_KINDS) {
      it(`${file} --norm ${norm}`, () => {
        const config = resolveTrainConfig(parseTrainArgs([join(ROOT, 'models', file), '--norm', norm, '--set', ...SMALL]));
        expect({ normEval: config.model.normEval, normAffineTrainable: config.model.normAffineTrainable }).toEqual(normPreset(norm));
        const start = tf.memory().numTensors;
        const model = buildRetinaNet(config.model, new Rng(1));
        const norms = backboneNorms(model.backbone);
        const printed = normBehaviour(norms);
        // what the preset and the frozen stages predict, counted by hand
        const frozen = FROZEN_NORMS[config.model.depth]![Math.min(config.model.frozenStages, 2)]!;
        expect(config.model.frozenStages).toBeLessThanOrEqual(2);
        const live = norm === 'frozen_bn' ? 0 : printed.layers - frozen;
        expect(printed).toMatchObject({ kinds: { [norm]: printed.layers }, batchStats: live, affineTrained: live });

        // one training step: which running means move, which gammas get a gradient
        const meansBefore = norms.map((n) => n.runningMean.dataSync().slice());
        const x = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
        const target = { boxes: Float32Array.from([8, 8, 40, 40]), labels: Int32Array.from([1]), crowdBoxes: new Float32Array(0) };
        const trainable = model.params().filter((p) => p.trainable).map((p) => p.variable);
        const { value, grads } = tf.variableGrads(() => {
          const l = model.computeLosses(x, [target]);
          return tf.add(l.lossCls, l.lossBox) as tf.Scalar;
        }, trainable);
        const moved = norms.filter((n, i) => n.runningMean.dataSync().some((v, c) => v !== meansBefore[i]![c])).length;
        const trained = norms.filter((n) => {
          const g = grads[n.gamma.name];
          return g !== undefined && g.dataSync().some((v) => v !== 0);
        }).length;
        expect({ moved, trained }).toEqual({ moved: printed.batchStats, trained: printed.affineTrained });
        tf.dispose([x, value, ...Object.values(grads)]);
        model.dispose();
        expect(tf.memory().numTensors).toBe(start);
      });
    }
  }

  it('an explicit --set wins over the preset, and FrozenBN refuses what it cannot do', () => {
    const r50 = join(ROOT, 'models', 'retinanet_r50_fpn_1x_coco.json');
    const frozenStats = resolveTrainConfig(parseTrainArgs([r50, '--norm', 'psbn', '--set', 'model.normEval=true']));
    expect([frozenStats.model.normEval, frozenStats.model.normAffineTrainable]).toEqual([true, true]);
    expect(() => resolveTrainConfig(parseTrainArgs([r50, '--norm', 'frozen_bn', '--set', 'model.normAffineTrainable=true']))).toThrow(
      'command line: field "model.normAffineTrainable" must be false with model.norm "frozen_bn" (FrozenBN never trains gamma/beta), got true',
    );
  });
});
