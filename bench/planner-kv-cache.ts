/**
 * Planner throughput with and without the KV cache, 512x512 (256 preview + 256 main
 * tokens), on the pack in --pack (default: model-packs/reference, built into a temporary
 * folder when absent). Without the cache every step re-feeds the whole sequence, so
 * that run takes minutes on a small CPU. Prints figures; asserts nothing.
 *
 *   node --import tsx bench/planner-kv-cache.ts [--pack dir] [--threads n]
 *
 * With BENCH_JSON_OUT=<file> the figures are also written there as JSON.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadModelPack } from '../packages/inference/src/model-pack.ts';
import { Planner } from '../packages/inference/src/planner/planner.ts';
import { buildReferencePack } from '../packages/inference/src/reference-pack/build-pack.ts';

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
  const figures: Record<string, number> = {};
  for (const useKvCache of [true, false]) {
    const label = useKvCache ? 'with KV cache' : 'without KV cache';
    process.stdout.write(`planner 512x512 ${label}: `);
    const result = await planner.plan({ ...request, useKvCache });
    figures[label] = result.tokensPerSecond;
    console.log(
      `${result.generatedTokens} tokens in ${(result.durationMs / 1000).toFixed(2)} s = ${result.tokensPerSecond.toFixed(1)} tokens/s`,
    );
  }
  const ratio = (figures['with KV cache'] ?? 0) / (figures['without KV cache'] ?? 1);
  console.log(
    `KV cache speed-up: ${ratio.toFixed(1)}x (pack ${pack.manifest.name}, ${intraOpThreads ?? 'default'} intra-op threads)`,
  );
  const { BENCH_JSON_OUT: jsonOut } = process.env;
  if (jsonOut) {
    const json = {
      benchmark: 'planner-kv-cache',
      pack: pack.manifest.name,
      tokensPerSecond: figures,
      speedup: ratio,
    };
    await writeFile(jsonOut, `${JSON.stringify(json, null, 2)}\n`);
  }
} finally {
  await planner.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
}
