import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

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

/**
 * Samples an index from `logits[0..allowed)`; indices from `allowed` on (the specials
 * after the codebook) can never be chosen. Applies temperature, then top-k, then top-p,
 * in the order Hugging Face's logits warpers do. Ties are broken by the lower index so
 * that a seed gives the same token on every machine.
 */
export function sampleToken(
  logits: ArrayLike<number>,
  allowed: number,
  params: SamplingParams,
  random: SeededRandom,
): number {
  if (allowed <= 0 || allowed > logits.length)
    throw new RangeError(`allowed=${allowed} outside 1..${logits.length}`);
  if (params.temperature === 0) return argmax(logits, allowed);

  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < allowed; i++) {
    const v = logits[i] as number;
    if (v > max) max = v;
  }
  if (!Number.isFinite(max)) throw new RangeError('logits hold no finite value in the allowed range');

  // Unnormalised probabilities; relative to the largest, so exp never overflows.
  const weights = new Float64Array(allowed);
  let total = 0;
  for (let i = 0; i < allowed; i++) {
    const w = Math.exp(((logits[i] as number) - max) / params.temperature);
    weights[i] = Number.isNaN(w) ? 0 : w;
    total += weights[i] as number;
  }

  const keep = nucleus(weights, total, params);
  let mass = 0;
  for (const i of keep) mass += weights[i] as number;
  let u = random.next() * mass;
  for (const i of keep) {
    u -= weights[i] as number;
    if (u < 0) return i;
  }
  return keep[keep.length - 1] as number;
}

/**
 * The candidate indices after top-k and top-p, most likely first. Sorting all 16k
 * codebook entries per token would dominate the planner's time, so a threshold is
 * lowered (x1/4 each round, counting without allocating) until the entries above it
 * alone are enough; only those are sorted. Everything below the threshold is less
 * likely than everything above, so the result is exactly what a full sort would give.
 */
function nucleus(weights: Float64Array, total: number, { topK, topP }: SamplingParams): number[] {
  const n = weights.length;
  const k = topK > 0 ? Math.min(topK, n) : n;
  const p = Math.min(Math.max(topP, 0), 1);
  let threshold = 0;
  if (k < n || p < 1) {
    let best = 0;
    for (let i = 0; i < n; i++) best = Math.max(best, weights[i] as number);
    for (threshold = best; threshold > 1e-30; threshold /= 4) {
      let count = 0;
      let mass = 0;
      for (let i = 0; i < n; i++) {
        const w = weights[i] as number;
        if (w >= threshold) {
          count++;
          mass += w;
        }
      }
      // Top-k needs its k entries above the threshold (top-p then works inside them);
      // top-p alone needs p of the mass above it.
      if (k < n ? count >= k : mass >= p * total) break;
    }
    if (threshold <= 1e-30) threshold = 0;
  }
  const candidates: number[] = [];
  for (let i = 0; i < n; i++) if ((weights[i] as number) >= threshold) candidates.push(i);
  candidates.sort((a, b) => (weights[b] as number) - (weights[a] as number) || a - b);
  const topKept = candidates.length > k ? candidates.slice(0, k) : candidates;
  if (p >= 1) return topKept;
  // Top-p on the top-k distribution, renormalised as the warpers do; without top-k the
  // candidates are only part of the distribution, so the whole mass is the reference.
  let keptMass = total;
  if (k < n) {
    keptMass = 0;
    for (const i of topKept) keptMass += weights[i] as number;
  }
  const keep: number[] = [];
  let cumulative = 0;
  for (const i of topKept) {
    keep.push(i);
    cumulative += weights[i] as number;
    if (cumulative >= p * keptMass) break;
  }
  return keep;
}

function argmax(logits: ArrayLike<number>, allowed: number): number {
  let best = 0;
  for (let i = 1; i < allowed; i++) if ((logits[i] as number) > (logits[best] as number)) best = i;
  return best;
}
