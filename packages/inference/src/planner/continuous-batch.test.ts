import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CanceledError } from '../errors.ts';
import { openSession } from '../execution/execution-options.ts';
import { loadModelPack, type ModelPack } from '../model-pack.ts';
import { buildReferencePack } from '../reference-pack/build-pack.ts';
import { discGrid } from '../testing/reference-grids.ts';
import { ContinuousBatch, type GroupHooks, type PlanSequence } from './continuous-batch.ts';
import { planBatchKey } from './planner-jobs.ts';
import { PlannerTokenizer } from './planner-tokenizer.ts';
import { buildPromptIds, buildPromptText, planLayout } from './prompt-template.ts';

/**
 * The batching engine on the reference planner, in this thread: every sequence, batched
 * with any others, joining late or outliving a canceled neighbour, samples exactly the
 * tokens it samples alone.
 */

let root: string;
let pack: ModelPack;
let session: InferenceSession;
let tokenizer: PlannerTokenizer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'continuous-batch-test-'));
  await buildReferencePack(root);
  pack = await loadModelPack(root);
  session = await openSession(pack.files.planner, { executionProvider: 'cpu', intraOpThreads: 1 });
  tokenizer = await PlannerTokenizer.load(pack);
});
afterAll(async () => {
  await session?.release();
  await rm(root, { recursive: true, force: true });
});

/**
 * A plan's sequence: the prompt template for its size, and the first quarter of its
 * grid tokens (or `count`): enough to tell every row apart, cheaper than whole grids
 * (the planner tests plan whole grids).
 */
function sequence(prompt: string, width: number, height: number, seed: number, count?: number): PlanSequence {
  const layout = planLayout(pack.manifest, width, height);
  return {
    promptIds: tokenizer.encode(buildPromptText(pack.manifest, prompt, layout)),
    count: count ?? Math.ceil(layout.totalTokens / 4),
    seed,
    sampling: pack.manifest.planner.sampling,
  };
}

/** A plan's sequence with reference images (each a main grid of tokens) ahead of its prompt. */
function edit(prompt: string, references: number, seed: number, count: number): PlanSequence {
  const layout = planLayout(pack.manifest, 512, 512);
  const grids = Array.from({ length: references }, () => discGrid(16, 16).tokens);
  return {
    promptIds: buildPromptIds(tokenizer, pack.manifest, prompt, layout, grids),
    count,
    seed,
    sampling: pack.manifest.planner.sampling,
    batchKey: planBatchKey({ references: grids }),
  };
}

const engine = (maxBatch: number, useKvCache = true, on: InferenceSession = session) =>
  new ContinuousBatch(on, pack.manifest, { maxBatch, padId: tokenizer.padId, useKvCache });

/**
 * The real session, with each model call's rows written down as their lengths (the
 * positions each row has attended to, read from the attention mask): prompt length at
 * prefill, prompt length plus tokens so far when decoding.
 */
function watched(): { session: InferenceSession; calls: number[][] } {
  const calls: number[][] = [];
  const run = (feeds: Record<string, Tensor>) => {
    const mask = feeds.attention_mask!;
    const [rows, width] = mask.dims as [number, number];
    const data = mask.data as BigInt64Array;
    calls.push(
      Array.from({ length: rows }, (_, r) =>
        data.subarray(r * width, (r + 1) * width).reduce((sum, v) => sum + Number(v), 0),
      ),
    );
    return session.run(feeds);
  };
  return { session: { inputNames: session.inputNames, run } as unknown as InferenceSession, calls };
}

const quiet = (onProgress: GroupHooks['onProgress'] = () => {}, isCanceled = () => false): GroupHooks => ({
  isCanceled,
  onProgress,
});

/** Each sequence alone: a batch of one, one after the other. */
async function alone(sequences: PlanSequence[]): Promise<number[][]> {
  const out: number[][] = [];
  for (const s of sequences) out.push(...(await engine(1).generate([s], quiet())));
  return out;
}

// Sizes with different grids (so different stopping points) and prompts of different lengths.
const MIXED = () => [
  sequence('a red circle on a blue background', 512, 512, 7),
  sequence('a yellow triangle in front of a purple wall with the word "hi"', 768, 512, 7),
  sequence('a green square', 512, 1536, 8),
  sequence('a white "sale" sign on a dark red wall, simple flat illustration', 1024, 512, 9),
  sequence('a red circle on a blue background', 512, 512, 10),
];

describe('ContinuousBatch', () => {
  let reference: number[][];
  beforeAll(async () => {
    reference = await alone(MIXED());
  });

  it('samples the same tokens for every row batched as alone, sizes and prompt lengths mixed', async () => {
    // Different sizes, so different stopping points: a quarter of 512, 631, 1011, 754 and 512 tokens.
    expect(reference.map((r) => r.length)).toEqual([128, 158, 253, 189, 128]);
    const batch = engine(8);
    expect(await batch.generate(MIXED(), quiet())).toEqual(reference);
    // One model call per step for all rows: fewer steps than tokens of the longest and a mean batch above 1.
    const { steps, rowSteps, prefills } = batch.stats;
    expect(prefills).toBe(1);
    expect(rowSteps / steps).toBeGreaterThan(2);
  });

  it('refills a free row with the next sequence while the others keep decoding', async () => {
    // Five sequences, two rows: each that ends gives its row to the next waiting one.
    const batch = engine(2);
    const results = await Promise.all(MIXED().map((s) => batch.generate([s], quiet())));
    expect(results.map((r) => r[0])).toEqual(reference);
    expect(batch.stats.prefills).toBeGreaterThan(1);
    expect(batch.stats.rowSteps / batch.stats.steps).toBeGreaterThan(1);
  });

  it('takes in a sequence that arrives while a batch decodes, and both finish as alone', async () => {
    const [first, , late] = MIXED();
    const batch = engine(4);
    let joined: Promise<number[][]> | undefined;
    const running = batch.generate(
      [first!],
      quiet((generated) => {
        if (generated === 40) joined = batch.generate([late!], quiet());
      }),
    );
    const [firstTokens] = await running;
    expect(joined).toBeDefined();
    const [lateTokens] = await joined!;
    expect(firstTokens).toEqual(reference[0]);
    expect(lateTokens).toEqual(reference[2]);
    // The late sequence was prefilled on its own, then decoded beside the first.
    expect(batch.stats.prefills).toBe(2);
    expect(batch.stats.rowSteps).toBeGreaterThan(batch.stats.steps);
  });

  it('cancels one sequence without stopping the others', async () => {
    const [a, b, c] = MIXED();
    const batch = engine(4);
    let cancelB = false;
    const runA = batch.generate(
      [a!],
      quiet((generated) => {
        if (generated === 30) cancelB = true;
      }),
    );
    let lastOfB = 0;
    const runB = batch.generate(
      [b!],
      quiet(
        (generated) => {
          lastOfB = generated;
        },
        () => cancelB,
      ),
    );
    const runC = batch.generate([c!], quiet());
    await expect(runB).rejects.toBeInstanceOf(CanceledError);
    expect(lastOfB).toBeLessThan(b!.count);
    expect((await runA)[0]).toEqual(reference[0]);
    expect((await runC)[0]).toEqual(reference[2]);
  });

  it('gives the same tokens without the KV cache, in a batch with different stopping points', async () => {
    // Re-feeding whole sequences is slow by nature: the first tokens are enough to compare.
    const short = () => MIXED().map((s, i) => ({ ...s, count: 12 + 7 * i }));
    const cached = await engine(8).generate(short(), quiet());
    const recomputed = await engine(8, false).generate(short(), quiet());
    expect(recomputed.map((r) => r.length)).toEqual([12, 19, 26, 33, 40]);
    expect(recomputed).toEqual(cached);
    expect(cached.map((r, i) => r.slice(0, 12 + 7 * i))).toEqual(
      reference.map((r, i) => r.slice(0, 12 + 7 * i)),
    );
  });

  it('prefills rows with long prompts a few at a time, with the same tokens', async () => {
    // About 1,200 prompt tokens each: the five joining rows cannot share one prefill call.
    const long = () =>
      [1, 2, 3, 4, 5].map((i) =>
        sequence(`a red circle, ${'a blue square, '.repeat(280 + i * 5)}`, 512, 512, i, 6),
      );
    const expected = await alone(long());
    const batch = engine(8);
    expect(await batch.generate(long(), quiet())).toEqual(expected);
    expect(batch.stats.prefills).toBeGreaterThan(1);
    expect(batch.stats.rowSteps / batch.stats.steps).toBeGreaterThan(4);
  });

  it('reports progress per group over all its rows', async () => {
    const seen: Array<[number, number]> = [];
    const sequences = [sequence('a blue square', 512, 512, 1, 5), sequence('a red circle', 512, 512, 2, 3)];
    await engine(4).generate(
      sequences,
      quiet((generated, total) => seen.push([generated, total])),
    );
    expect(seen.at(-1)).toEqual([8, 8]);
    expect(seen.map(([g]) => g)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('never decodes rows with different numbers of references in one model call; each as alone', async () => {
    // 16 tokens each: every row's lengths stay within 16 of its prompt's, and the prompts
    // of 0, 1 and 2 references (258 ids each) are far apart, so a length tells a row's kind.
    const prompts = ['make the background green', 'the circle to yellow', 'a red circle'];
    const mixed = () => [
      edit(prompts[0]!, 0, 1, 16),
      edit(prompts[1]!, 1, 2, 16),
      edit(prompts[2]!, 0, 3, 16),
      edit(prompts[0]!, 2, 4, 16),
      edit(prompts[1]!, 1, 5, 16),
    ];
    const late = () => edit(prompts[2]!, 1, 6, 16);
    const expected = await alone([...mixed(), late()]);
    const referencesOf = (length: number) => {
      const kinds = [...mixed(), late()]
        .filter((s) => length >= s.promptIds.length && length <= s.promptIds.length + s.count)
        .map((s) => s.batchKey);
      expect(new Set(kinds).size).toBe(1);
      return kinds[0];
    };

    const { session: observed, calls } = watched();
    const batch = engine(8, true, observed);
    let joined: Promise<number[][]> | undefined;
    const [first, ...rest] = mixed();
    const results = await Promise.all([
      // One more edit arrives while the first rows decode.
      batch.generate(
        [first!],
        quiet((generated) => {
          if (generated === 4) joined = batch.generate([late()], quiet());
        }),
      ),
      ...rest.map((s) => batch.generate([s], quiet())),
    ]);
    expect(joined).toBeDefined();
    expect([...results.map((r) => r[0]), (await joined!)[0]]).toEqual(expected);
    for (const rows of calls) expect(new Set(rows.map(referencesOf)).size).toBe(1);
    // Alike rows still shared calls: the two without references, then the two with one.
    expect(calls.some((rows) => rows.length >= 2 && referencesOf(rows[0]!) === '0 references')).toBe(true);
    expect(calls.some((rows) => rows.length >= 2 && referencesOf(rows[0]!) === '1 references')).toBe(true);
  });

  it('gives the same tokens without the KV cache for rows with references', async () => {
    const rows = () => [
      edit('make the background green', 1, 7, 10),
      edit('a yellow circle', 1, 8, 10),
      edit('a yellow circle', 0, 9, 10),
    ];
    expect(await engine(8, false).generate(rows(), quiet())).toEqual(
      await engine(8).generate(rows(), quiet()),
    );
  });
});

describe('prompt ids with reference images', () => {
  it('puts each reference between image markers ahead of the text prompt', () => {
    const layout = planLayout(pack.manifest, 512, 512);
    const prompt = 'a red circle on a blue background';
    const { firstTokenId } = pack.manifest.planner.imageVocab;
    const ids = buildPromptIds(tokenizer, pack.manifest, prompt, layout, [[5, 6], [7]]);
    const text = tokenizer.encode(buildPromptText(pack.manifest, prompt, layout));
    const { beginOfImageId: begin, endOfImageId: end } = tokenizer;
    expect(ids).toEqual([
      begin,
      firstTokenId + 5,
      firstTokenId + 6,
      end,
      begin,
      firstTokenId + 7,
      end,
      ...text,
    ]);
    expect(buildPromptIds(tokenizer, pack.manifest, prompt, layout)).toEqual(text);
  });
});
