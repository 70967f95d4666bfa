/**
 * The sampling rule written out plainly: every weight of the codebook, then top-k and
 * top-p over the candidates sorted by weight. It defines the tokens a seed gives; the
 * fast sampler (fast-sampler.ts) returns the same index or, when it cannot prove that it
 * does, leaves the row to this function. That happens for a small fraction of tokens
 * (a top-p boundary within rounding of the target mass, a flat distribution whose
 * sampled entry is vanishingly small) and for parameters outside the validated range.
 *
 * `max` is the largest logit in range (finite); `k` and `p` are normalised top-k and
 * top-p (`1 <= k <= allowed`, `p <= 1`); `draw` is the row's uniform draw in [0, 1).
 */
export function sampleExact(
  logits: Float32Array,
  allowed: number,
  max: number,
  temperature: number,
  k: number,
  p: number,
  draw: number,
): number {
  // Unnormalised probabilities; relative to the largest, so exp never overflows.
  const weights = new Float64Array(allowed);
  let total = 0;
  for (let i = 0; i < allowed; i++) {
    const w = Math.exp(((logits[i] as number) - max) / temperature);
    weights[i] = Number.isNaN(w) ? 0 : w;
    total += weights[i] as number;
  }

  const keep = nucleus(weights, total, k, p);
  let mass = 0;
  for (const i of keep) mass += weights[i] as number;
  let u = draw * mass;
  for (const i of keep) {
    u -= weights[i] as number;
    if (u < 0) return i;
  }
  return keep[keep.length - 1] as number;
}

/**
 * The candidate indices after top-k and top-p, most likely first. A threshold is lowered
 * (x1/4 each round) until the entries above it alone are enough; only those are sorted.
 * Everything below the threshold is less likely than everything above, so the order is
 * what a full sort gives; the threshold decides the nucleus only when the sorted sum of
 * its entries falls short of the target by rounding (then all of them are kept).
 */
function nucleus(weights: Float64Array, total: number, k: number, p: number): number[] {
  const n = weights.length;
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
