/**
 * Planner throughput with and without the KV cache, 512x512 (256 preview + 256 main
 * tokens), on the pack in --pack (default: model-packs/reference, built into a temporary
 * folder when absent). Without the cache every step re-feeds the whole sequence, so
 * that run takes a minute or more on a small CPU. Prints a markdown table (JSON to
 * BENCH_JSON_OUT); asserts nothing.
 *
 *   node --import tsx bench/planner-kv-cache.ts [--pack dir] [--threads n]
 *
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadModelPack } from '../packages/inference/src/model-pack.ts';
import { Planner } from '../packages/inference/src/planner/planner.ts';
import { buildReferencePack } from '../packages/inference/src/reference-pack/build-pack.ts';
import { markdownTable, publish } from './support/report.ts';

const { values } = parseArgs({ options: { pack: { type: 'string' }, threads: { type: 'string' } } });
const defaultPack = fileURLToPath(new URL('../model-packs/reference', import.meta.url));
let packDir = values.pack ?? defaultPack;
let scratch: string | null = null;
if (!existsSync(join(packDir, 'model.json'))) {
  scratch = await mkdtemp(join(tmpdir(), 'bench-planner-'));
  await buildReferencePack(scratch);
  packDir = scratch;
}

const pack = await loadModelPack(packDir);
const intraOpThreads = values.threads ? Number(values.threads) : undefined;
const planner = await Planner.load(pack, { executionProvider: 'cpu', intraOpThreads });
const request = { prompt: 'a red circle on a blue background', width: 512, height: 512, seed: 1 };
try {
  await planner.plan(request); // warm-up: first-run allocations and kernel selection
  const runs: Record<'with' | 'without', { tokens: number; seconds: number; perSecond: number }> =
    {} as never;
  for (const useKvCache of [true, false]) {
    console.error(`planner 512x512 ${useKvCache ? 'with' : 'without'} KV cache...`);
    const result = await planner.plan({ ...request, useKvCache });
    runs[useKvCache ? 'with' : 'without'] = {
      tokens: result.generatedTokens,
      seconds: result.durationMs / 1000,
      perSecond: result.tokensPerSecond,
    };
  }
  const speedUp = runs.with.perSecond / runs.without.perSecond;
  const row = (label: string, run: (typeof runs)['with']) => [
    label,
    run.tokens,
    run.seconds.toFixed(2),
    run.perSecond.toFixed(1),
  ];
  await publish({
    benchmark: 'Planner: tokens per second with and without the KV cache',
    command: `node --import tsx bench/planner-kv-cache.ts${values.threads ? ` --threads ${values.threads}` : ''}`,
    parameters: { pack: pack.manifest.name, size: '512x512', intra_op_threads: intraOpThreads ?? 'default' },
    figures: {
      tokens: runs.with.tokens,
      with_cache_tokens_per_second: Number(runs.with.perSecond.toFixed(1)),
      without_cache_tokens_per_second: Number(runs.without.perSecond.toFixed(1)),
      speed_up: Number(speedUp.toFixed(1)),
    },
    table: markdownTable(
      ['run', 'tokens', 'seconds', 'tokens/s'],
      [
        row('with KV cache', runs.with),
        row('without KV cache (baseline)', runs.without),
        ['**speed-up**', '', '', `**${speedUp.toFixed(0)}x**`],
      ],
    ),
  });
} finally {
  await planner.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
}
