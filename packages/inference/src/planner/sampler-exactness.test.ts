import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession } from '../execution/execution-options.ts';
import { loadModelPack, type ModelPack } from '../model-pack.ts';
import { buildReferencePack } from '../reference-pack/build-pack.ts';
import { ContinuousBatch, type PlanSequence } from './continuous-batch.ts';
import { sampleExact } from './exact-sampler.ts';
import { FastSampler, UNDECIDED } from './fast-sampler.ts';
import { PlannerTokenizer } from './planner-tokenizer.ts';
import { buildPromptText, planLayout } from './prompt-template.ts';
import { type SamplingParams, SeededRandom, sampleToken } from './sampler.ts';

/**
 * The sampler must give exactly the tokens of the plain rule it replaced: the same index
 * for every seed, prompt and setting, one draw per token. `referenceSample` below is
 * that rule as it stood (every weight, threshold search, sorted candidates), kept
 * verbatim as the oracle.
 */

function referenceSample(
  logits: ArrayLike<number>,
  allowed: number,
  params: SamplingParams,
  random: SeededRandom,
): number {
  if (allowed <= 0 || allowed > logits.length)
    throw new RangeError(`allowed=${allowed} outside 1..${logits.length}`);
  if (params.temperature === 0) return referenceArgmax(logits, allowed);

  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < allowed; i++) {
    const v = logits[i] as number;
    if (v > max) max = v;
  }
  if (!Number.isFinite(max)) throw new RangeError('logits hold no finite value in the allowed range');

  const weights = new Float64Array(allowed);
  let total = 0;
  for (let i = 0; i < allowed; i++) {
    const w = Math.exp(((logits[i] as number) - max) / params.temperature);
    weights[i] = Number.isNaN(w) ? 0 : w;
    total += weights[i] as number;
  }

  const keep = referenceNucleus(weights, total, params);
  let mass = 0;
  for (const i of keep) mass += weights[i] as number;
  let u = random.next() * mass;
  for (const i of keep) {
    u -= weights[i] as number;
    if (u < 0) return i;
  }
  return keep[keep.length - 1] as number;
}

function referenceNucleus(weights: Float64Array, total: number, { topK, topP }: SamplingParams): number[] {
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
      if (k < n ? count >= k : mass >= p * total) break;
    }
    if (threshold <= 1e-30) threshold = 0;
  }
  const candidates: number[] = [];
  for (let i = 0; i < n; i++) if ((weights[i] as number) >= threshold) candidates.push(i);
  candidates.sort((a, b) => (weights[b] as number) - (weights[a] as number) || a - b);
  const topKept = candidates.length > k ? candidates.slice(0, k) : candidates;
  if (p >= 1) return topKept;
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

function referenceArgmax(logits: ArrayLike<number>, allowed: number): number {
  let best = 0;
  for (let i = 1; i < allowed; i++) if ((logits[i] as number) > (logits[best] as number)) best = i;
  return best;
}

/** Token after token from one generator, or the error that stopped the row. */
function draws(
  sample: (random: SeededRandom) => number,
  seed: number,
  count: number,
): Array<number | string> {
  const random = new SeededRandom(seed);
  const out: Array<number | string> = [];
  for (let i = 0; i < count; i++) {
    try {
      out.push(sample(random));
    } catch (error) {
      out.push(`${(error as Error).name}: ${(error as Error).message}`);
      break;
    }
  }
  return out;
}

/** mulberry32: builds a whole row of logits from one generated seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SHAPES = ['peaked', 'gaussian', 'ties', 'extreme', 'flat'] as const;
const EXTREMES = [
  3.4e38,
  -3.4e38,
  1e30,
  -1e30,
  1e-45,
  -1e-45,
  1e-38,
  0,
  -0,
  65504,
  -1e4,
  Number.NEGATIVE_INFINITY,
  Number.NaN,
];

/**
 * A row of logits: `peaked` is shaped like the reference planner's (a few entries near
 * the top, a hundred within ~10, the rest tens to thousands below), `gaussian` has a
 * random spread, `ties` draws from a handful of values (ties at the top included),
 * `extreme` mixes huge, tiny, subnormal, zero, -Infinity and NaN, `flat` is one value.
 * Any shape can have NaN and -Infinity sprinkled over it.
 */
function makeLogits(
  shape: (typeof SHAPES)[number],
  length: number,
  seed: number,
  scale: number,
  holes: number,
): Float32Array {
  const rand = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-300)) * Math.cos(2 * Math.PI * rand());
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    let v: number;
    switch (shape) {
      case 'peaked': {
        const r = rand();
        v =
          r < 0.004
            ? -rand() * 0.2
            : r < 0.01
              ? -rand() * 12
              : r < 0.1
                ? -30 - rand() * 40
                : -40 - rand() * 1e4;
        break;
      }
      case 'gaussian':
        v = gauss() * scale;
        break;
      case 'ties':
        v = Math.floor(rand() * 4) * scale;
        break;
      case 'extreme':
        v = EXTREMES[Math.floor(rand() * EXTREMES.length)] as number;
        break;
      default:
        v = scale;
    }
    const h = rand();
    if (h < holes) v = Number.NaN;
    else if (h < 2 * holes) v = Number.NEGATIVE_INFINITY;
    values[i] = v;
  }
  return values;
}

const rowArb = fc.record({
  shape: fc.constantFrom(...SHAPES),
  length: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 9, max: 600 }), fc.constant(16_384)),
  tail: fc.integer({ min: 0, max: 4 }),
  seed: fc.integer({ min: 0, max: 0xffff_ffff }),
  scale: fc.constantFrom(1e-6, 0.01, 0.5, 1, 3, 10, 100),
  holes: fc.constantFrom(0, 0, 0.01, 0.3),
});

const temperatureArb = fc.oneof(
  fc.constantFrom(0.9, 1, 0.5, 2),
  fc.double({ min: 1e-4, max: 100, noNaN: true }),
  fc.constantFrom(0, 1e-300, 5e-324, 1e-9, 1e6, 1e300),
);

const topPArb = fc.oneof(
  fc.constantFrom(1, 0.75, 0.5, 0.25, 0.9, 0.999_999, 1 - 2 ** -52, 1e-9),
  fc.double({ min: 2 ** -30, max: 1, noNaN: true }),
);

describe('sampleToken against the plain rule', () => {
  it('gives the same tokens for random logits, temperatures, top-k, top-p and seeds', () => {
    fc.assert(
      fc.property(
        rowArb,
        temperatureArb,
        fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20_000 })),
        topPArb,
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (row, temperature, topK, topP, seed) => {
          const logits = makeLogits(row.shape, row.length + row.tail, row.seed, row.scale, row.holes);
          const params = { temperature, topK, topP };
          const expected = draws((r) => referenceSample(logits, row.length, params, r), seed, 6);
          const actual = draws((r) => sampleToken(logits, row.length, params, r), seed, 6);
          expect(actual).toEqual(expected);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('gives the same tokens for short rows of any float32 values', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float(), { minLength: 1, maxLength: 40 }),
        temperatureArb,
        fc.integer({ min: 0, max: 45 }),
        topPArb,
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (values, temperature, topK, topP, seed) => {
          const logits = Float32Array.from(values);
          const params = { temperature, topK, topP };
          const expected = draws((r) => referenceSample(logits, logits.length, params, r), seed, 4);
          expect(draws((r) => sampleToken(logits, logits.length, params, r), seed, 4)).toEqual(expected);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('matches on boundaries the fast path must leave to the plain rule', () => {
    // Equal weights put p * total exactly on a cumulative sum; huge temperatures make
    // every weight 1; out-of-range parameters keep their old meaning.
    const ties = Float32Array.from([2, 2, 2, 2, 1, 1, 0, 0]);
    // Here p * total lies between the sorted sum of the 6 largest weights and their
    // index-order sum: the plain rule's threshold search stops with those 6 and keeps
    // them, where a sorted walk alone would keep 7.
    const rounding = Float32Array.from([
      -0.008207163773477077, -1.5823410749435425, -2.943152904510498, -2.9051337242126465, -0.843310534954071,
      -1.8385165929794312, -2.162229537963867, -1.2773908376693726, -2.984468936920166,
    ]);
    const cases: Array<[Float32Array, SamplingParams]> = [
      [rounding, { temperature: 1, topK: 0, topP: 0.9324321533237852 }],
      [rounding, { temperature: 1, topK: 0, topP: 0.9324321533237853 }],
      [ties, { temperature: 1, topK: 0, topP: 0.5 }],
      [ties, { temperature: 1, topK: 0, topP: 0.25 }],
      [ties, { temperature: 1, topK: 3, topP: 2 / 3 }],
      [ties, { temperature: 1e300, topK: 0, topP: 0.5 }],
      [ties, { temperature: 1, topK: 2.5, topP: 1 }],
      [ties, { temperature: 1, topK: 0, topP: Number.NaN }],
      [ties, { temperature: -1, topK: 0, topP: 0.9 }],
      [ties, { temperature: 1, topK: -3, topP: -1 }],
    ];
    for (const [logits, params] of cases) {
      for (let seed = 0; seed < 200; seed++) {
        const expected = draws((r) => referenceSample(logits, logits.length, params, r), seed, 5);
        expect(draws((r) => sampleToken(logits, logits.length, params, r), seed, 5)).toEqual(expected);
      }
    }
  });

  it('decides almost every token itself on realistic rows, leaving few to the plain rule', () => {
    // Guards the speed: the exactness tests above pass even if every token fell back.
    const sampler = new FastSampler();
    let decided = 0;
    let total = 0;
    for (let seed = 0; seed < 40; seed++) {
      for (const [shape, scale] of [
        ['peaked', 1],
        ['gaussian', 3],
      ] as const) {
        const logits = makeLogits(shape, 16_384, seed, scale, 0);
        const max = sampler.max(logits, logits.length);
        for (const [k, p] of [
          [16_384, 0.75],
          [16_384, 1],
          [50, 0.9],
        ] as const) {
          total++;
          if (
            sampler.sample(logits, logits.length, max, 0.9, k, p, ((seed * 7919) % 1000) / 1000) !== UNDECIDED
          )
            decided++;
        }
      }
    }
    expect(decided / total).toBeGreaterThanOrEqual(0.95);
  });
});

/** The float64 `steps` ulps away from `x` (towards +Infinity when positive). */
function ulpsAway(x: number, steps: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigInt64(0, view.getBigInt64(0) + BigInt(x >= 0 ? steps : -steps));
  return view.getFloat64(0);
}

/**
 * Where the fast path's decisions are closest to wrong: top-p values that put the
 * target on (or a few ulps beside) a cumulative sum of the sorted weights, and draws
 * that put the walk on one. `p` and the draw come from the plain rule's own sums.
 */
function boundaries(logits: Float32Array, allowed: number, temperature: number, picks: number[]) {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < allowed; i++) if ((logits[i] as number) > max) max = logits[i] as number;
  const weights = new Float64Array(allowed);
  let total = 0;
  for (let i = 0; i < allowed; i++) {
    const w = Math.exp(((logits[i] as number) - max) / temperature);
    weights[i] = Number.isNaN(w) ? 0 : w;
    total += weights[i] as number;
  }
  const sorted = Array.from({ length: allowed }, (_, i) => i).sort(
    (a, b) => (weights[b] as number) - (weights[a] as number) || a - b,
  );
  const cumulative: number[] = [];
  let sum = 0;
  for (const i of sorted) {
    sum += weights[i] as number;
    cumulative.push(sum);
  }
  const at = (pick: number) => cumulative[Math.floor(pick * Math.min(allowed, 40))] as number;
  const topPs = picks.flatMap((pick) => [-2, -1, 0, 1, 2].map((d) => ulpsAway(at(pick) / total, d)));
  return { max, weights, topPs: topPs.filter((p) => p > 0 && p <= 1), cumulative };
}

describe('FastSampler against sampleExact at the boundaries', () => {
  it('never gives another index than the plain rule for the same draw; it may only defer', () => {
    const fast = new FastSampler();
    let decided = 0;
    let runs = 0;
    fc.assert(
      fc.property(
        // Shorter rows than rowArb's: the oracle's sums here sort every row in full.
        rowArb.map((row) => ({ ...row, length: Math.min(row.length, 3000) })),
        fc.constantFrom(1, 0.9, 0.5, 2, 1e-3),
        fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 })),
        fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 1, maxLength: 3 }),
        (row, temperature, topK, picks) => {
          const logits = makeLogits(row.shape, row.length, row.seed, row.scale, row.holes);
          const allowed = row.length;
          const { max, topPs, cumulative } = boundaries(logits, allowed, temperature, picks);
          if (!Number.isFinite(max)) return;
          const fastMax = fast.max(logits, allowed);
          expect(fastMax).toBe(max === 0 ? fastMax : max);
          const k = topK > 0 ? Math.min(topK, allowed) : allowed;
          for (const p of [1, 0.75, ...topPs]) {
            const mass = cumulative[cumulative.length - 1] as number;
            const draws = [0, 1 - 2 ** -53, 0.5];
            for (const pick of picks) {
              const c = cumulative[Math.floor(pick * Math.min(allowed, 40))] as number;
              for (const d of [-1, 0, 1]) draws.push(Math.min(ulpsAway(c / mass, d), 1 - 2 ** -53));
            }
            for (const draw of draws) {
              const token = fast.sample(logits, allowed, fastMax, temperature, k, p, draw);
              runs++;
              if (token === UNDECIDED) continue;
              decided++;
              expect(token).toBe(sampleExact(logits, allowed, max, temperature, k, p, draw));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
    // Boundaries are where it defers; it must still decide enough of them to be tested.
    expect(decided / runs).toBeGreaterThan(0.2);
  });
});

describe('sampleToken on the reference planner', () => {
  let root: string;
  let pack: ModelPack;
  let session: InferenceSession;
  let tokenizer: PlannerTokenizer;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'sampler-exactness-test-'));
    await buildReferencePack(root);
    pack = await loadModelPack(root);
    session = await openSession(pack.files.planner, { executionProvider: 'cpu', intraOpThreads: 1 });
    tokenizer = await PlannerTokenizer.load(pack);
  });
  afterAll(async () => {
    await session?.release();
    await rm(root, { recursive: true, force: true });
  });

  it('samples the tokens the plain rule samples from the same logits, seed after seed', async () => {
    const { size: vocab, codebookSize } = pack.manifest.planner.imageVocab;
    // The real session, with every row's last-position logits kept as the engine reads them.
    const rows: Float32Array[][] = [[], []];
    const recording = {
      inputNames: session.inputNames,
      outputNames: session.outputNames,
      run: async (feeds: InferenceSession.FeedsType) => {
        const outputs = await session.run(feeds);
        const logits = outputs.logits as Tensor;
        const [batch, length] = logits.dims as [number, number, number];
        const data = logits.data as Float32Array;
        for (let b = 0; b < batch; b++) {
          const offset = (b * length + length - 1) * vocab;
          rows[b]!.push(data.slice(offset, offset + vocab));
        }
        return outputs;
      },
    } as unknown as InferenceSession;
    const layout = planLayout(pack.manifest, 512, 512);
    const sequences: PlanSequence[] = [
      'a red circle on a blue background with a sign that says "HELLO"',
      'a small green square under a large orange circle next to a grey road',
    ].map((prompt, seed) => ({
      promptIds: tokenizer.encode(buildPromptText(pack.manifest, prompt, layout)),
      count: 96,
      seed: seed + 11,
      sampling: pack.manifest.planner.sampling,
    }));
    const engine = new ContinuousBatch(recording, pack.manifest, {
      maxBatch: 2,
      padId: tokenizer.padId,
      useKvCache: true,
    });
    const tokens = await engine.generate(sequences, { isCanceled: () => false, onProgress: () => {} });

    sequences.forEach((sequence, b) => {
      const random = new SeededRandom(sequence.seed);
      const expected = rows[b]!.map((logits) =>
        referenceSample(logits, codebookSize, sequence.sampling, random),
      );
      expect(tokens[b]).toEqual(expected);
    });
    // Other settings over the same real rows, several seeds each.
    for (const params of [
      { temperature: 1, topK: 0, topP: 1 },
      { temperature: 0.7, topK: 40, topP: 0.9 },
      { temperature: 1.5, topK: 0, topP: 0.95 },
    ]) {
      for (let seed = 0; seed < 3; seed++) {
        const expected = new SeededRandom(seed);
        const actual = new SeededRandom(seed);
        for (const logits of rows[seed % 2]!) {
          expect(sampleToken(logits, codebookSize, params, actual)).toBe(
            referenceSample(logits, codebookSize, params, expected),
          );
        }
      }
    }
  });
});
