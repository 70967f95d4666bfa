import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

/** murmur3's 32-bit finaliser: spreads every seed bit over the whole word. */
function fmix32(value: number): number {
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * A xoroshiro128+ generator seeded from all 53 bits of `seed`. Each state word is a
 * hashed mix of the seed, so neighbouring seeds (seed, seed + 1, used for the images
 * of one generation) start from unrelated states instead of nearly equal ones.
 */
export function seededGenerator(seed: number): RandomGenerator {
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
  const lo = seed % 0x1_0000_0000;
  const hi = Math.floor(seed / 0x1_0000_0000);
  const a = fmix32(lo ^ 0x9e3779b9);
  const b = fmix32(hi ^ 0x7f4a7c15);
  const c = fmix32(lo + 0x6a09e667);
  const d = fmix32(hi + 0xbb67ae85);
  // The all-zero state would never leave zero.
  return xoroshiro128plusFromState([(a | b | c | d) === 0 ? 1 : a, b, c, d]);
}

/**
 * Standard normal samples by Box-Muller, both outputs of each pair used. The same seed
 * always gives bit-identical values: everything is plain float64 arithmetic in a fixed
 * order, rounded once to float32.
 */
export function gaussianNoise(seed: number, count: number): Float32Array {
  const rng = seededGenerator(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u1 = 1 - uniformFloat64(rng); // (0, 1]: log stays finite
    const u2 = uniformFloat64(rng);
    const radius = Math.sqrt(-2 * Math.log(u1));
    const angle = 2 * Math.PI * u2;
    out[i] = radius * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}
