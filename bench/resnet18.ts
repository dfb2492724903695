/**
 * A self-contained ResNet-18 (torchvision layout: 7x7/2 stem, 3x3/2 max pool, four stages of two basic blocks,
 * global average pool, 1000-way fc) for the engine benchmark, with batch norm in training mode (batch moments).
 * Only for timing: the project's model lives in src/model.
 */
import * as tf from '@tensorflow/tfjs-core';

type Pad4 = [[number, number], [number, number], [number, number], [number, number]];
const pad = (p: number): Pad4 => [[0, 0], [p, p], [p, p], [0, 0]];

interface ConvBn {
  w: tf.Variable<tf.Rank.R4>;
  gamma: tf.Variable<tf.Rank.R1>;
  beta: tf.Variable<tf.Rank.R1>;
  stride: number;
  pad: number;
}

function convBn(k: number, cin: number, cout: number, stride: number): ConvBn {
  const std = Math.sqrt(2 / (k * k * cout));
  return {
    w: tf.variable(tf.mul(tf.randomNormal([k, k, cin, cout]), std) as tf.Tensor4D),
    gamma: tf.variable(tf.ones([cout]) as tf.Tensor1D),
    beta: tf.variable(tf.zeros([cout]) as tf.Tensor1D),
    stride,
    pad: (k - 1) / 2,
  };
}

function applyConvBn(x: tf.Tensor4D, p: ConvBn, relu: boolean): tf.Tensor4D {
  const y = tf.conv2d(x, p.w, p.stride, p.pad === 0 ? 'valid' : pad(p.pad));
  const { mean, variance } = tf.moments(y, [0, 1, 2]);
  const z = tf.batchNorm(y, mean, variance, p.beta, p.gamma, 1e-5) as tf.Tensor4D;
  return relu ? (tf.relu(z) as tf.Tensor4D) : z;
}

interface Block {
  conv1: ConvBn;
  conv2: ConvBn;
  down: ConvBn | null;
}

export class ResNet18 {
  private readonly stem = convBn(7, 3, 64, 2);
  private readonly blocks: Block[] = [];
  private readonly fcW: tf.Variable<tf.Rank.R2>;
  private readonly fcB: tf.Variable<tf.Rank.R1>;

  constructor() {
    let cin = 64;
    for (const [cout, stride] of [
      [64, 1],
      [128, 2],
      [256, 2],
      [512, 2],
    ] as const) {
      for (let i = 0; i < 2; i++) {
        const s = i === 0 ? stride : 1;
        this.blocks.push({
          conv1: convBn(3, cin, cout, s),
          conv2: convBn(3, cout, cout, 1),
          down: s !== 1 || cin !== cout ? convBn(1, cin, cout, s) : null,
        });
        cin = cout;
      }
    }
    this.fcW = tf.variable(tf.mul(tf.randomNormal([512, 1000]), 0.01) as tf.Tensor2D);
    this.fcB = tf.variable(tf.zeros([1000]) as tf.Tensor1D);
  }

  /** @param images `[N, H, W, 3]` @returns logits `[N, 1000]` */
  forward(images: tf.Tensor4D): tf.Tensor2D {
    let x = applyConvBn(images, this.stem, true);
    x = tf.maxPool(x, 3, 2, 1);
    for (const b of this.blocks) {
      const identity = b.down ? applyConvBn(x, b.down, false) : x;
      const y = applyConvBn(applyConvBn(x, b.conv1, true), b.conv2, false);
      x = tf.relu(tf.add(y, identity)) as tf.Tensor4D;
    }
    return tf.add(tf.matMul(tf.mean(x, [1, 2]) as tf.Tensor2D, this.fcW), this.fcB);
  }

  /** One forward + backward pass of sum(logits); returns when every gradient is computed. */
  async trainStep(images: tf.Tensor4D): Promise<void> {
    const { value, grads } = tf.variableGrads(() => tf.sum(this.forward(images)) as tf.Scalar);
    await value.data();
    const all = Object.values(grads);
    await Promise.all(all.map((g) => g.data()));
    tf.dispose([value, ...all]);
  }

  dispose(): void {
    const convs = [this.stem, ...this.blocks.flatMap((b) => [b.conv1, b.conv2, ...(b.down ? [b.down] : [])])];
    tf.dispose([...convs.flatMap((c) => [c.w, c.gamma, c.beta]), this.fcW, this.fcB]);
  }
}
