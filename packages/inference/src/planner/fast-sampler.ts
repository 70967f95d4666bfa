import { WeightOrder } from './weight-order.ts';

/** Returned by `FastSampler.sample` when it cannot prove its answer equal to `sampleExact`'s. */
export const UNDECIDED = -1;

/** Entries per block of the first pass, which keeps each block's largest logit (a multiple of 8). */
const BLOCK = 64;

/**
 * Without truncation, entries below e^-38 of the largest weight are not weighed: such
 * weights (< 2^-54) vanish when added to the sorted sum, which starts at the largest
 * weight, exactly 1, so the draw's mass is exact without them.
 */
const SKIP_FULL = -38;
/**
 * With top-k or top-p, entries below e^-20 of the largest are only counted: at most
 * 2e-9 each, they move the top-p target by less than its margin for almost every token.
 */
const SKIP_TRUNCATED = -20;

/**
 * Temperature / top-k / top-p sampling that gives exactly `sampleExact`'s index (same
 * float64 weights, same order, same sums where they decide) while computing `exp` only
 * for the entries that can matter, a few hundred of the codebook on a peaked
 * distribution:
 *
 * 1. `max` keeps each block's largest logit, so that
 * 2. `sample` visits only the blocks holding a logit above the cutoff: `max + x*T` with
 *    x -38 or -20; with top-k, the (k+1)-th largest block maximum where that is higher
 *    or the first cutoff leaves fewer than k entries. Entries at or below it are only
 *    counted; none weighs more than `bound`, the weight of the largest of them;
 * 3. the entries above it get their exact weight, and are ordered (weight desc, index
 *    asc) lazily, bucket by bucket, as far as the walk needs (WeightOrder);
 * 4. top-k needs no total; without truncation, the skipped weights vanish in the sorted
 *    sum; top-p needs the whole index-order sum, which is only bounded: the nucleus is
 *    taken when its boundary is clear of the bound's rounding and skipped-mass margin.
 *
 * Whenever an argument does not hold, `sample` returns UNDECIDED instead of an index,
 * and the caller runs `sampleExact` with the same draw.
 *
 * One instance per thread: it keeps its buffers between calls (no allocation per token).
 */
export class FastSampler {
  private blockMax = new Float64Array(0);
  private selection = new Float64Array(0);
  private readonly order = new WeightOrder();

  /**
   * The largest logit in `logits[0..allowed)`, NaN ignored as the exact rule does
   * (-Infinity when there is none), remembering each block's largest for `sample`.
   */
  max(logits: Float32Array, allowed: number): number {
    const blocks = Math.ceil(allowed / BLOCK);
    if (this.blockMax.length < blocks) this.blockMax = new Float64Array(blocks);
    const blockMax = this.blockMax;
    let best = Number.NEGATIVE_INFINITY;
    let b = 0;
    // Eight independent maxima so that the comparisons do not wait on each other; a
    // comparison with NaN is false, so NaN never becomes a maximum.
    for (let i = 0, full = allowed - (allowed % BLOCK); i < full; b++) {
      let m0 = Number.NEGATIVE_INFINITY;
      let m1 = m0;
      let m2 = m0;
      let m3 = m0;
      let m4 = m0;
      let m5 = m0;
      let m6 = m0;
      let m7 = m0;
      for (const end = i + BLOCK; i < end; i += 8) {
        const v0 = logits[i] as number;
        const v1 = logits[i + 1] as number;
        const v2 = logits[i + 2] as number;
        const v3 = logits[i + 3] as number;
        const v4 = logits[i + 4] as number;
        const v5 = logits[i + 5] as number;
        const v6 = logits[i + 6] as number;
        const v7 = logits[i + 7] as number;
        if (v0 > m0) m0 = v0;
        if (v1 > m1) m1 = v1;
        if (v2 > m2) m2 = v2;
        if (v3 > m3) m3 = v3;
        if (v4 > m4) m4 = v4;
        if (v5 > m5) m5 = v5;
        if (v6 > m6) m6 = v6;
        if (v7 > m7) m7 = v7;
      }
      if (m1 > m0) m0 = m1;
      if (m3 > m2) m2 = m3;
      if (m5 > m4) m4 = m5;
      if (m7 > m6) m6 = m7;
      if (m2 > m0) m0 = m2;
      if (m6 > m4) m4 = m6;
      if (m4 > m0) m0 = m4;
      blockMax[b] = m0;
      if (m0 > best) best = m0;
    }
    if (b < blocks) {
      let m = Number.NEGATIVE_INFINITY;
      for (let i = b * BLOCK; i < allowed; i++) if ((logits[i] as number) > m) m = logits[i] as number;
      blockMax[b] = m;
      if (m > best) best = m;
    }
    return best;
  }

  /**
   * The sampled index of the row `max` was last called on, or UNDECIDED. `max` is that
   * call's (finite) result; `k` and `p` are normalised top-k and top-p (`1 <= k <=
   * allowed`, `p <= 1`), `temperature` is finite and > 0, `draw` the row's uniform draw.
   */
  sample(
    logits: Float32Array,
    allowed: number,
    max: number,
    temperature: number,
    k: number,
    p: number,
    draw: number,
  ): number {
    const blocks = Math.ceil(allowed / BLOCK);
    const truncated = k < allowed || p < 1;
    const cutoff = max + (truncated ? SKIP_TRUNCATED : SKIP_FULL) * temperature;
    // Top-k needs no total, only its k entries: above the (k+1)-th largest block maximum
    // lie k block maxima at least. Collected above the higher of the two cutoffs first,
    // and again above this one if that left fewer than k.
    let floor = cutoff;
    if (k < allowed) floor = k < blocks ? this.largestBlockMax(blocks, k + 1) : Number.NEGATIVE_INFINITY;
    let skippedMax = this.collect(logits, allowed, max, temperature, Math.max(cutoff, floor));
    if (this.order.size < k && floor < cutoff)
      skippedMax = this.collect(logits, allowed, max, temperature, floor);

    const order = this.order;
    if (order.size === 0) return UNDECIDED;
    order.bucket();
    // The weight's exponent, computed as the exact rule does, never falls as the logit
    // rises, and Math.exp is within an ulp: no skipped weight exceeds `bound`.
    const bound =
      skippedMax === Number.NEGATIVE_INFINITY
        ? 0
        : Math.exp((skippedMax - max) / temperature) * (1 + 2 ** -40);

    if (k < allowed) return this.topK(k, p, bound, draw);
    if (p < 1) return this.topP(allowed, p, bound, draw);
    return this.untruncated(bound, draw);
  }

  /**
   * Weighs every entry above `cutoff`, in index order, visiting only the blocks whose
   * maximum is above it; returns the largest logit left out (-Infinity if none).
   */
  private collect(
    logits: Float32Array,
    allowed: number,
    max: number,
    temperature: number,
    cutoff: number,
  ): number {
    const { order, blockMax } = this;
    order.reset(allowed);
    let skippedMax = Number.NEGATIVE_INFINITY;
    for (let b = 0, blocks = Math.ceil(allowed / BLOCK); b < blocks; b++) {
      const m = blockMax[b] as number;
      if (!(m > cutoff)) {
        if (m > skippedMax) skippedMax = m;
        continue;
      }
      for (let i = b * BLOCK, end = Math.min(i + BLOCK, allowed); i < end; i++) {
        const l = logits[i] as number;
        if (l > cutoff) order.add(i, Math.exp((l - max) / temperature));
        else if (l > skippedMax) skippedMax = l;
      }
    }
    return skippedMax;
  }

  /** The r-th largest of the first `blocks` block maxima (quickselect on a copy). */
  private largestBlockMax(blocks: number, r: number): number {
    if (this.selection.length < blocks) this.selection = new Float64Array(blocks);
    const values = this.selection;
    for (let b = 0; b < blocks; b++) values[b] = this.blockMax[b] as number;
    // The (blocks - r)-th smallest, 0-based; no NaN among block maxima.
    const target = blocks - r;
    let lo = 0;
    let hi = blocks - 1;
    while (lo < hi) {
      const pivot = values[(lo + hi) >>> 1] as number;
      let i = lo;
      let j = hi;
      while (i <= j) {
        while ((values[i] as number) < pivot) i++;
        while ((values[j] as number) > pivot) j--;
        if (i <= j) {
          const t = values[i] as number;
          values[i++] = values[j] as number;
          values[j--] = t;
        }
      }
      if (target <= j) hi = j;
      else if (target >= i) lo = i;
      else break;
    }
    return values[target] as number;
  }

  /** Top-k (then top-p inside it): only the k largest weights matter, no total. */
  private topK(k: number, p: number, bound: number, draw: number): number {
    const order = this.order;
    if (k > order.size) return UNDECIDED;
    // Every skipped entry must rank after the k kept (ties at the bound could interleave).
    if (!(order.weightAt(k - 1) > bound)) return UNDECIDED;
    let keptMass = 0;
    for (let j = 0; j < k; j++) keptMass += order.weightAt(j);
    let keep = k;
    let mass = keptMass;
    if (p < 1) {
      const target = p * keptMass;
      let cumulative = 0;
      for (let j = 0; j < k; j++) {
        cumulative += order.weightAt(j);
        if (cumulative >= target) {
          keep = j + 1;
          mass = cumulative;
          break;
        }
      }
    }
    return this.walk(keep, mass, draw);
  }

  /**
   * Top-p over the whole codebook. The exact target is p times the index-order sum of
   * every weight; here that sum is bounded by the computed weights' sum, the skipped
   * count times `bound`, and summation rounding (|error| <= n*2^-53 of the sum for n
   * non-negative terms, taken 8x over). The nucleus is the sorted prefix whose sum first
   * reaches the target: it is decided when the first prefix to reach the lower bound
   * also reaches the upper one. The shorter prefixes then stay below the lower bound, so
   * by more than the rounding margin below the target: in any summation order they stay
   * below it, so the exact rule's threshold search (which sums its candidates in index
   * order) cannot stop on one of them, and it keeps exactly this prefix.
   */
  private topP(allowed: number, p: number, bound: number, draw: number): number {
    const order = this.order;
    const margin = (allowed + 16) * 2 ** -50;
    const computed = order.total;
    const skipped = allowed - order.size;
    const low = p * (computed * (1 - margin));
    const high = p * ((computed + skipped * bound) * (1 + margin));
    let cumulative = 0;
    for (let j = 0; j < order.size; j++) {
      const w = order.weightAt(j);
      cumulative += w;
      if (cumulative < low) continue;
      return cumulative >= high && w > bound ? this.walk(j + 1, cumulative, draw) : UNDECIDED;
    }
    return UNDECIDED;
  }

  /**
   * No truncation: the draw's mass is the sorted sum of every weight. It starts at the
   * largest weight, exactly 1, and each skipped weight is below half an ulp of 1, so it
   * equals the sorted sum of the computed ones. The walk is decided if it stops on an
   * entry above `bound` (no skipped entry can rank before it).
   */
  private untruncated(bound: number, draw: number): number {
    const order = this.order;
    if (!(bound < 2 ** -53)) return UNDECIDED;
    let mass = 0;
    for (let j = 0; j < order.size; j++) mass += order.weightAt(j);
    let u = draw * mass;
    for (let j = 0; j < order.size; j++) {
      const w = order.weightAt(j);
      u -= w;
      if (u < 0) return w > bound ? order.indexAt(j) : UNDECIDED;
    }
    return UNDECIDED;
  }

  /** The draw over the first `keep` entries in order, whose sorted sum is `mass`. */
  private walk(keep: number, mass: number, draw: number): number {
    const order = this.order;
    let u = draw * mass;
    for (let j = 0; j < keep; j++) {
      u -= order.weightAt(j);
      if (u < 0) return order.indexAt(j);
    }
    return order.indexAt(keep - 1);
  }
}
