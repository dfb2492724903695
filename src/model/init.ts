import { Rng } from '../util/rng.js';

/**
 * Weight initialisers as torchvision applies them per module. Each returns a fresh Float32Array drawn from `rng`
 * (so a seeded model is reproducible); none of them is meant to reproduce PyTorch's random stream.
 */

/** Normal(0, std). */
export function normalInit(size: number, std: number, rng: Rng): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.normal() * std;
  return out;
}

/** Uniform(-bound, bound). */
export function uniformInit(size: number, bound: number, rng: Rng): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.uniform(-bound, bound);
  return out;
}

/** `kaiming_normal_(mode='fan_out', nonlinearity='relu')`: std = sqrt(2 / (out * kh * kw)). ResNet convs. */
export function kaimingNormalFanOut(kernel: number, inChannels: number, outChannels: number, rng: Rng): Float32Array {
  const fanOut = outChannels * kernel * kernel;
  return normalInit(kernel * kernel * inChannels * outChannels, Math.sqrt(2 / fanOut), rng);
}

/**
 * `kaiming_uniform_(a)` with fan_in: bound = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)).
 * a = 1 gives bound sqrt(3 / fan_in) (FPN convs); a = sqrt(5) is nn.Conv2d's default (bound 1 / sqrt(fan_in)).
 */
export function kaimingUniformFanIn(kernel: number, inChannels: number, outChannels: number, a: number, rng: Rng): Float32Array {
  const fanIn = inChannels * kernel * kernel;
  const gain = Math.sqrt(2 / (1 + a * a));
  return uniformInit(kernel * kernel * inChannels * outChannels, gain * Math.sqrt(3 / fanIn), rng);
}
