import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import { sampleExact } from './exact-sampler.ts';
import { FastSampler, UNDECIDED } from './fast-sampler.ts';

export interface SamplingParams {
  /** > 0 divides the logits; 0 means greedy (argmax). */
  temperature: number;
  /** Keep the smallest set of most likely tokens whose mass reaches topP (1 = off). */
  topP: number;
  /** Keep only the topK most likely tokens (0 = off). */
  topK: number;
}

/** A seeded source of uniform floats in [0, 1). One per plan: the seed alone fixes every draw. */
export class SeededRandom {
  private readonly rng: RandomGenerator;
  constructor(seed: number) {
    this.rng = xoroshiro128plus(seed >>> 0);
  }
  next(): number {
    return uniformFloat64(this.rng);
  }
}

/** Buffers reused from token to token; each model thread has its own copy of this module. */
const fast = new FastSampler();

/**
 * Samples an index from `logits[0..allowed)`; indices from `allowed` on (the specials
 * after the codebook) can never be chosen. Applies temperature, then top-k, then top-p,
 * in the order Hugging Face's logits warpers do. Ties are broken by the lower index so
 * that a seed gives the same token on every machine. Each call takes exactly one draw
 * from `random` (none when greedy).
 *
 * The rule is `sampleExact`'s (exact-sampler.ts); `FastSampler` reaches the same index
 * while computing weights only for the entries that can matter, and hands the token to
 * `sampleExact` whenever it cannot prove that.
 */
export function sampleToken(
  logits: Float32Array,
  allowed: number,
  params: SamplingParams,
  random: SeededRandom,
): number {
  if (allowed <= 0 || allowed > logits.length)
    throw new RangeError(`allowed=${allowed} outside 1..${logits.length}`);
  const { temperature, topK, topP } = params;
  if (temperature === 0) return argmax(logits, allowed);

  const max = fast.max(logits, allowed);
  if (!Number.isFinite(max)) throw new RangeError('logits hold no finite value in the allowed range');
  const draw = random.next();

  const k = topK > 0 ? Math.min(topK, allowed) : allowed;
  const p = Math.min(Math.max(topP, 0), 1);
  if (temperature > 0 && Number.isFinite(temperature) && Number.isInteger(k) && !Number.isNaN(p)) {
    const token = fast.sample(logits, allowed, max, temperature, k, p, draw);
    if (token !== UNDECIDED) return token;
  }
  return sampleExact(logits, allowed, max, temperature, k, p, draw);
}

function argmax(logits: Float32Array, allowed: number): number {
  let best = 0;
  for (let i = 1; i < allowed; i++) if ((logits[i] as number) > (logits[best] as number)) best = i;
  return best;
}
