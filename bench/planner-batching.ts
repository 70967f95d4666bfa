/**
 * Planner throughput and latency against the batch size (continuous batching), on the
 * pack in --pack (default: model-packs/reference, built into a temporary folder when
 * absent). For each batch size B in 1, 4, 8, 16 the same list of plans is run with B of
 * them in flight at a time (each slot takes the next plan as soon as its own is done,
 * as the planner worker does with PLANNER_MAX_BATCH = B): tokens/s, plans/s, latency per
 * plan, tokens per second of CPU time (steadier than wall-clock rates when other work
 * shares the machine), and the share of the planner thread's busy time spent outside
 * `session.run` (sampling, and the engine's own work). Two workloads: all 512x512, and mixed sizes
 * with prompts of different lengths. Then the KV cache against recomputing the whole
 * sequence each step, over the first tokens of a plan. Ratios are against batch 1 (and
 * against recompute) in the same run. Prints markdown; asserts nothing.
 *
 *   node --import tsx bench/planner-batching.ts [--pack dir] [--threads n] [--plans n] [--batches 1,4,8,16]
 *
 * With BENCH_JSON_OUT=<file> the figures are also written there as JSON.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadModelPack } from '../packages/inference/src/model-pack.ts';
import type { BatchStats } from '../packages/inference/src/planner/continuous-batch.ts';
import { Planner, type PlanRequest } from '../packages/inference/src/planner/planner.ts';
import { buildReferencePack } from '../packages/inference/src/reference-pack/build-pack.ts';

const { values } = parseArgs({
  options: {
    pack: { type: 'string' },
    threads: { type: 'string' },
    plans: { type: 'string', default: '16' },
    batches: { type: 'string', default: '1,4,8,16' },
    'kv-tokens': { type: 'string', default: '96' },
  },
});
const batches = values.batches.split(',').map(Number);
const planCount = Number(values.plans);
const kvTokens = Number(values['kv-tokens']);

const PROMPTS = [
  'a red circle',
  'a blue square above a green triangle',
  'a yellow triangle in front of a purple wall with the word "hi"',
  'a white "sale" sign on a dark red wall, simple flat illustration, with a pale yellow ceiling',
  'a small green square under a large orange circle next to a grey road',
  'a black cat',
];
const MIXED_SIZES: Array<[number, number]> = [
  [512, 512],
  [768, 512],
  [512, 768],
  [1024, 512],
  [512, 1024],
];
const workloads: Array<{ name: string; requests: PlanRequest[] }> = [
  {
    name: '512x512',
    requests: Array.from({ length: planCount }, (_, i) => ({
      prompt: PROMPTS[i % PROMPTS.length]!,
      width: 512,
      height: 512,
      seed: i,
    })),
  },
  {
    name: 'mixed sizes and prompt lengths',
    requests: Array.from({ length: planCount }, (_, i) => {
      const [width, height] = MIXED_SIZES[i % MIXED_SIZES.length]!;
      return { prompt: PROMPTS[(i * 5) % PROMPTS.length]!, width, height, seed: i };
    }),
  },
];

interface RunFigures {
  batch: number;
  plans: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  /** Tokens per second of CPU time used by this process (all its threads): steadier than tokens/s on a shared machine. */
  tokensPerCpuSecond: number;
  plansPerSecond: number;
  latency: { meanMs: number; p50Ms: number; p95Ms: number };
  /** Rows per decode step, averaged over the run. */
  meanBatch: number;
  /** Of the planner thread's busy time: outside session.run, and the sampling part of it. */
  outsideRunShare: number;
  samplingShare: number;
  engineShare: number;
  vsBatch1: { tokensPerSecond: number; tokensPerCpuSecond: number; latencyMean: number };
}

const defaultPack = fileURLToPath(new URL('../model-packs/reference', import.meta.url));
let packDir = values.pack ?? defaultPack;
let scratch: string | null = null;
if (!existsSync(join(packDir, 'model.json'))) {
  scratch = await mkdtemp(join(tmpdir(), 'bench-planner-batching-'));
  await buildReferencePack(scratch);
  packDir = scratch;
}
const pack = await loadModelPack(packDir);
const intraOpThreads = values.threads ? Number(values.threads) : undefined;
const planner = await Planner.load(
  pack,
  { executionProvider: 'cpu', ...(intraOpThreads ? { intraOpThreads } : {}) },
  { maxBatch: Math.max(...batches) },
);

/** Runs every request with `batch` of them in flight; each slot takes the next as its own ends. */
async function runBatched(requests: PlanRequest[], batch: number) {
  const latencies: number[] = [];
  let tokens = 0;
  let next = 0;
  const before = (await planner.stats()).cached;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const slot = async () => {
    while (next < requests.length) {
      const request = requests[next++]!;
      const t0 = performance.now();
      const result = await planner.plan(request);
      latencies.push(performance.now() - t0);
      tokens += result.generatedTokens;
    }
  };
  await Promise.all(Array.from({ length: batch }, slot));
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const after = (await planner.stats()).cached;
  return { latencies, tokens, seconds, cpuSeconds, engine: diff(after, before) };
}

function diff(after: BatchStats, before: BatchStats): BatchStats {
  const out = { ...after };
  for (const key of Object.keys(out) as Array<keyof BatchStats>) out[key] = after[key] - before[key];
  return out;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;

/** Tokens per second of the planner thread over the first `count` tokens of one plan, in either mode. */
async function firstTokensRate(useKvCache: boolean, count: number): Promise<number> {
  const mode = useKvCache ? 'cached' : 'recompute';
  const before = (await planner.stats())[mode];
  const controller = new AbortController();
  await planner
    .plan(
      { prompt: PROMPTS[1]!, width: 512, height: 512, seed: 1, useKvCache },
      {
        signal: controller.signal,
        onProgress: (generated) => {
          if (generated >= count) controller.abort();
        },
      },
    )
    .catch(() => undefined);
  const engine = diff((await planner.stats())[mode], before);
  return engine.tokens / (engine.busyMs / 1000);
}

try {
  await planner.plan({ prompt: PROMPTS[0]!, width: 512, height: 512, seed: 0 }); // warm-up
  const report: Array<{ name: string; plans: number; runs: RunFigures[] }> = [];
  for (const { name, requests } of workloads) {
    const runs: RunFigures[] = [];
    for (const batch of batches) {
      const { latencies, tokens, seconds, cpuSeconds, engine } = await runBatched(requests, batch);
      const sorted = latencies.slice().sort((a, b) => a - b);
      const meanMs = latencies.reduce((a, b) => a + b, 0) / latencies.length;
      const base = runs[0];
      const tokensPerSecond = tokens / seconds;
      const tokensPerCpuSecond = tokens / cpuSeconds;
      runs.push({
        batch,
        plans: requests.length,
        tokens,
        seconds,
        tokensPerSecond,
        tokensPerCpuSecond,
        plansPerSecond: requests.length / seconds,
        latency: { meanMs, p50Ms: percentile(sorted, 0.5), p95Ms: percentile(sorted, 0.95) },
        meanBatch: engine.rowSteps / engine.steps,
        outsideRunShare: 1 - engine.runMs / engine.busyMs,
        samplingShare: engine.samplingMs / engine.busyMs,
        engineShare: (engine.busyMs - engine.runMs - engine.samplingMs) / engine.busyMs,
        vsBatch1: {
          tokensPerSecond: base ? tokensPerSecond / base.tokensPerSecond : 1,
          tokensPerCpuSecond: base ? tokensPerCpuSecond / base.tokensPerCpuSecond : 1,
          latencyMean: base ? meanMs / base.latency.meanMs : 1,
        },
      });
      process.stderr.write(`${name}: batch ${batch} done (${seconds.toFixed(1)} s)\n`);
    }
    report.push({ name, plans: requests.length, runs });
  }

  const withCache = await firstTokensRate(true, kvTokens);
  const recompute = await firstTokensRate(false, kvTokens);
  const kvCache = { tokens: kvTokens, withCache, recompute, speedup: withCache / recompute };

  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const s = (ms: number) => (ms / 1000).toFixed(2);
  for (const { name, plans, runs } of report) {
    console.log(`\n### ${name} (${plans} plans, B in flight)\n`);
    console.log(
      '| batch | tokens/s | plans/s | tokens per CPU-s | rows/step | latency mean s | p95 s | tokens/s vs B=1 | tokens per CPU-s vs B=1 | latency vs B=1 | outside session.run | sampling | engine |',
    );
    console.log(
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const r of runs) {
      console.log(
        `| ${r.batch} | ${r.tokensPerSecond.toFixed(0)} | ${r.plansPerSecond.toFixed(2)} | ${r.tokensPerCpuSecond.toFixed(0)} | ${r.meanBatch.toFixed(1)} | ${s(r.latency.meanMs)} | ${s(r.latency.p95Ms)} | **${r.vsBatch1.tokensPerSecond.toFixed(2)}x** | ${r.vsBatch1.tokensPerCpuSecond.toFixed(2)}x | ${r.vsBatch1.latencyMean.toFixed(2)}x | ${pct(r.outsideRunShare)} | ${pct(r.samplingShare)} | ${pct(r.engineShare)} |`,
      );
    }
  }
  console.log(`\n### KV cache against recompute (first ${kvTokens} tokens of a 512x512 plan, batch 1)\n`);
  console.log('| mode | tokens/s |\n| --- | ---: |');
  console.log(`| with KV cache | ${withCache.toFixed(0)} |`);
  console.log(`| recompute every step | ${recompute.toFixed(1)} |`);
  console.log(`| **speed-up** | **${kvCache.speedup.toFixed(1)}x** |`);
  const machine = {
    cpus: availableParallelism(),
    loadAverage1m: loadavg()[0],
    node: process.version,
    intraOpThreads: intraOpThreads ?? 'default',
  };
  console.log(
    `\npack ${pack.manifest.name}; ${machine.cpus} CPUs, load average ${machine.loadAverage1m?.toFixed(1)} at the end; onnxruntime intra-op threads: ${machine.intraOpThreads}`,
  );
  const { BENCH_JSON_OUT: jsonOut } = process.env;
  if (jsonOut) {
    const json = {
      benchmark: 'planner-batching',
      pack: pack.manifest.name,
      machine,
      workloads: report,
      kvCache,
    };
    await writeFile(jsonOut, `${JSON.stringify(json, null, 2)}\n`);
  }
} finally {
  await planner.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
}
