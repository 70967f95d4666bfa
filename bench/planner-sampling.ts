/**
 * Per-token cost of the planner's sampler against the plain rule it replaced, side by
 * side in the same run, on the same rows of logits with the same seeds: the reference
 * planner's real logits (recorded from the pack in --pack while it plans a few prompts)
 * and random rows of the same width (Gaussian logits of three spreads: the flatter, the
 * more entries the fast path must weigh and sort). Settings: the pack's default and a few
 * others. Every token of both is compared (they must be equal); "deferred" is the share
 * of tokens the fast path handed to the plain rule. Prints markdown; asserts nothing.
 *
 *   node --import tsx bench/planner-sampling.ts [--pack dir] [--rounds n]
 *
 * With BENCH_JSON_OUT=<file> the figures are also written there as JSON.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { openSession } from '../packages/inference/src/execution/execution-options.ts';
import { loadModelPack } from '../packages/inference/src/model-pack.ts';
import { ContinuousBatch } from '../packages/inference/src/planner/continuous-batch.ts';
import { sampleExact } from '../packages/inference/src/planner/exact-sampler.ts';
import { FastSampler, UNDECIDED } from '../packages/inference/src/planner/fast-sampler.ts';
import { PlannerTokenizer } from '../packages/inference/src/planner/planner-tokenizer.ts';
import { buildPromptText, planLayout } from '../packages/inference/src/planner/prompt-template.ts';
import { type SamplingParams, SeededRandom, sampleToken } from '../packages/inference/src/planner/sampler.ts';
import { buildReferencePack } from '../packages/inference/src/reference-pack/build-pack.ts';

const { values } = parseArgs({
  options: { pack: { type: 'string' }, rounds: { type: 'string', default: '7' } },
});
const rounds = Number(values.rounds);

const defaultPack = fileURLToPath(new URL('../model-packs/reference', import.meta.url));
let packDir = values.pack ?? defaultPack;
let scratch: string | null = null;
if (!existsSync(join(packDir, 'model.json'))) {
  scratch = await mkdtemp(join(tmpdir(), 'bench-planner-sampling-'));
  await buildReferencePack(scratch);
  packDir = scratch;
}
const pack = await loadModelPack(packDir);
const { size: vocab, codebookSize } = pack.manifest.planner.imageVocab;

/** The previous sampleToken: the plain rule, weighing every entry of the codebook. */
function plainRule(logits: Float32Array, allowed: number, params: SamplingParams, random: SeededRandom) {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < allowed; i++) {
    const v = logits[i] as number;
    if (v > max) max = v;
  }
  const k = params.topK > 0 ? Math.min(params.topK, allowed) : allowed;
  const p = Math.min(Math.max(params.topP, 0), 1);
  return sampleExact(logits, allowed, max, params.temperature, k, p, random.next());
}

/** Every row the reference planner's decoding loop samples from, every `keepEvery`-th kept. */
async function plannerRows(keepEvery: number): Promise<Float32Array[]> {
  const session = await openSession(pack.files.planner, { executionProvider: 'cpu' });
  const tokenizer = await PlannerTokenizer.load(pack);
  const rows: Float32Array[] = [];
  let seen = 0;
  // The real session; each call's last-position logits are copied as the engine reads them.
  const recording = {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run: async (feeds: InferenceSession.FeedsType) => {
      const outputs = await session.run(feeds);
      const logits = outputs.logits as Tensor;
      const [batch, length] = logits.dims as [number, number, number];
      const data = logits.data as Float32Array;
      for (let b = 0; b < batch; b++) {
        if (seen++ % keepEvery !== 0) continue;
        const offset = (b * length + length - 1) * vocab;
        rows.push(data.slice(offset, offset + vocab));
      }
      return outputs;
    },
  } as unknown as InferenceSession;
  const engine = new ContinuousBatch(recording, pack.manifest, {
    maxBatch: 4,
    padId: tokenizer.padId,
    useKvCache: true,
  });
  const plans: Array<[string, number, number]> = [
    ['a red circle on a blue background with a sign that says "HELLO"', 512, 512],
    [
      'a white "sale" sign on a dark red wall, simple flat illustration, with a pale yellow ceiling',
      768,
      512,
    ],
    ['a small green square under a large orange circle next to a grey road', 512, 768],
    ['a black cat', 1024, 512],
  ];
  await engine.generate(
    plans.map(([prompt, width, height], seed) => {
      const layout = planLayout(pack.manifest, width, height);
      return {
        promptIds: tokenizer.encode(buildPromptText(pack.manifest, prompt, layout)),
        count: layout.totalTokens,
        seed,
        sampling: pack.manifest.planner.sampling,
      };
    }),
    { isCanceled: () => false, onProgress: () => {} },
  );
  await session.release();
  return rows;
}

/** Rows of Gaussian logits with standard deviation `sd` (Box-Muller over a fixed generator). */
function gaussianRows(count: number, sd: number, seed: number): Float32Array[] {
  const random = new SeededRandom(seed);
  return Array.from({ length: count }, () => {
    const row = new Float32Array(vocab);
    for (let i = 0; i < vocab; i++) {
      row[i] = Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next()) * sd;
    }
    return row;
  });
}

type Sampler = (
  logits: Float32Array,
  allowed: number,
  params: SamplingParams,
  random: SeededRandom,
) => number;

/** Microseconds per token over every row, one generator per pass (the same draws for both samplers). */
function timePass(sample: Sampler, rows: Float32Array[], params: SamplingParams, out: Int32Array): number {
  const random = new SeededRandom(7);
  const started = performance.now();
  for (let r = 0; r < rows.length; r++) out[r] = sample(rows[r]!, codebookSize, params, random);
  return ((performance.now() - started) * 1000) / rows.length;
}

/** Share of rows the fast path leaves to the plain rule, with the draws the passes use. */
function deferredShare(rows: Float32Array[], params: SamplingParams): number {
  const fast = new FastSampler();
  const random = new SeededRandom(7);
  const k = params.topK > 0 ? Math.min(params.topK, codebookSize) : codebookSize;
  let deferred = 0;
  for (const row of rows) {
    const max = fast.max(row, codebookSize);
    const token = fast.sample(row, codebookSize, max, params.temperature, k, params.topP, random.next());
    if (token === UNDECIDED) deferred++;
  }
  return deferred / rows.length;
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const settings: Array<{ name: string; params: SamplingParams }> = [
  {
    name: `pack default (T ${pack.manifest.planner.sampling.temperature}, top-p ${pack.manifest.planner.sampling.topP})`,
    params: pack.manifest.planner.sampling,
  },
  { name: 'T 1, no truncation', params: { temperature: 1, topK: 0, topP: 1 } },
  { name: 'T 0.7, top-k 50, top-p 0.9', params: { temperature: 0.7, topK: 50, topP: 0.9 } },
  { name: 'T 1.5, top-p 0.95', params: { temperature: 1.5, topK: 0, topP: 0.95 } },
];

try {
  process.stderr.write('recording the reference planner’s logits…\n');
  const real = await plannerRows(4);
  const distributions: Array<{ name: string; rows: Float32Array[] }> = [
    { name: `reference planner (${real.length} rows)`, rows: real },
    { name: 'Gaussian logits, sd 8', rows: gaussianRows(96, 8, 1) },
    { name: 'Gaussian logits, sd 3', rows: gaussianRows(96, 3, 2) },
    { name: 'Gaussian logits, sd 1', rows: gaussianRows(48, 1, 3) },
  ];

  const results: Array<{
    distribution: string;
    setting: string;
    params: SamplingParams;
    rows: number;
    plainUsPerToken: number;
    fastUsPerToken: number;
    speedup: number;
    deferredShare: number;
    mismatches: number;
  }> = [];
  for (const { name, rows } of distributions) {
    for (const { name: setting, params } of settings) {
      const plainTokens = new Int32Array(rows.length);
      const fastTokens = new Int32Array(rows.length);
      const plain: number[] = [];
      const fast: number[] = [];
      // Alternating passes, so that load on the machine falls on both alike; one warm-up each.
      for (let round = 0; round <= rounds; round++) {
        const a = timePass(plainRule, rows, params, plainTokens);
        const b = timePass(sampleToken, rows, params, fastTokens);
        if (round > 0) {
          plain.push(a);
          fast.push(b);
        }
      }
      let mismatches = 0;
      for (let r = 0; r < rows.length; r++) if (plainTokens[r] !== fastTokens[r]) mismatches++;
      const plainUs = median(plain);
      const fastUs = median(fast);
      results.push({
        distribution: name,
        setting,
        params,
        rows: rows.length,
        plainUsPerToken: plainUs,
        fastUsPerToken: fastUs,
        speedup: plainUs / fastUs,
        deferredShare: deferredShare(rows, params),
        mismatches,
      });
      process.stderr.write(`${name}, ${setting}: done\n`);
    }
  }

  console.log(`\n### Sampling one token from ${codebookSize.toLocaleString('en')} codebook entries\n`);
  console.log(
    '| logits | setting | plain rule µs/token | fast µs/token | speed-up | deferred | tokens differing |',
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(
      `| ${r.distribution} | ${r.setting} | ${r.plainUsPerToken.toFixed(1)} | ${r.fastUsPerToken.toFixed(1)} | **${r.speedup.toFixed(1)}x** | ${(r.deferredShare * 100).toFixed(2)}% | ${r.mismatches} |`,
    );
  }
  const machine = { cpus: availableParallelism(), loadAverage1m: loadavg()[0], node: process.version };
  console.log(
    `\nmedian of ${rounds} alternating passes; ${machine.cpus} CPUs, load average ${machine.loadAverage1m?.toFixed(1)} at the end`,
  );
  const { BENCH_JSON_OUT: jsonOut } = process.env;
  if (jsonOut) {
    const json = { benchmark: 'planner-sampling', pack: pack.manifest.name, machine, rounds, results };
    await writeFile(jsonOut, `${JSON.stringify(json, null, 2)}\n`);
  }
} finally {
  if (scratch) await rm(scratch, { recursive: true, force: true });
}
