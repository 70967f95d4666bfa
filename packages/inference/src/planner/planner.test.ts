import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CanceledError, InvalidInputError } from '../errors.ts';
import { openSession } from '../execution/execution-options.ts';
import { loadModelPack, type ModelPack } from '../model-pack.ts';
import { buildReferencePack } from '../reference-pack/build-pack.ts';
import { encodeToken, PALETTE, Region } from '../reference-pack/semantic-codebook.ts';
import { Planner, planBatchKey, type TokenGrid } from './planner.ts';
import { PlannerTokenizer } from './planner-tokenizer.ts';
import { buildPromptIds, buildPromptText, planLayout } from './prompt-template.ts';
import { runTokenLoop } from './token-loop.ts';

let root: string;
let pack: ModelPack;
let planner: Planner;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'planner-test-'));
  await buildReferencePack(root);
  pack = await loadModelPack(root);
  planner = await Planner.load(pack, { executionProvider: 'cpu', intraOpThreads: 1 });
});
afterAll(async () => {
  await planner?.close();
  await rm(root, { recursive: true, force: true });
});

const PROMPT = 'a red circle on a blue background';

describe('Planner (reference pack)', () => {
  it('plans exactly the preview then the main grid at 512x512, codebook indices only', async () => {
    const progress: Array<[number, number]> = [];
    const result = await planner.plan(
      { prompt: PROMPT, width: 512, height: 512, seed: 1 },
      { onProgress: (generated, total) => progress.push([generated, total]) },
    );
    expect(result.preview).toMatchObject({ rows: 16, cols: 16 });
    expect(result.preview.tokens).toHaveLength(256);
    expect(result.main).toMatchObject({ rows: 16, cols: 16 });
    expect(result.main.tokens).toHaveLength(256);
    expect(result.generatedTokens).toBe(512);
    const { codebookSize } = pack.manifest.planner.imageVocab;
    for (const t of [...result.preview.tokens, ...result.main.tokens]) {
      expect(Number.isInteger(t) && t >= 0 && t < codebookSize).toBe(true);
    }
    expect(result.promptTokens).toBeGreaterThan(10);
    expect(result.tokensPerSecond).toBeGreaterThan(0);
    expect(progress.at(-1)).toEqual([512, 512]);
  });

  it('plans a 768x512 image: 13x19 preview and 16x24 main grid', async () => {
    const result = await planner.plan({ prompt: 'a green square', width: 768, height: 512, seed: 5 });
    expect(result.preview).toMatchObject({ rows: 13, cols: 19 });
    expect(result.preview.tokens).toHaveLength(13 * 19);
    expect(result.main).toMatchObject({ rows: 16, cols: 24 });
    expect(result.main.tokens).toHaveLength(16 * 24);
  });

  it('gives batch rows equal to single plans; the seed alone decides the tokens', async () => {
    const single = await planner.plan({ prompt: PROMPT, width: 512, height: 512, seed: 7 });
    const batch = await planner.planBatch([
      { prompt: PROMPT, width: 512, height: 512, seed: 7 },
      {
        prompt: 'a yellow triangle in front of a purple wall with the word "hi"',
        width: 512,
        height: 512,
        seed: 7,
      },
      { prompt: PROMPT, width: 512, height: 512, seed: 8 },
    ]);
    expect(batch).toHaveLength(3);
    expect(batch[0]!.main.tokens).toEqual(single.main.tokens);
    expect(batch[0]!.preview.tokens).toEqual(single.preview.tokens);
    expect(batch[2]!.main.tokens).not.toEqual(single.main.tokens);
    expect(batch[1]!.promptTokens).toBeGreaterThan(batch[0]!.promptTokens); // the shorter row was left-padded
    const alone = await planner.plan({
      prompt: 'a yellow triangle in front of a purple wall with the word "hi"',
      width: 512,
      height: 512,
      seed: 7,
    });
    expect(batch[1]!.main.tokens).toEqual(alone.main.tokens);
  });

  it('refuses a batch of different sizes and invalid requests with InvalidInputError', async () => {
    const error = await planner
      .planBatch([
        { prompt: PROMPT, width: 512, height: 512, seed: 1 },
        { prompt: PROMPT, width: 768, height: 512, seed: 1 },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).field).toBe('width');
    await expect(planner.plan({ prompt: PROMPT, width: 500, height: 512, seed: 1 })).rejects.toMatchObject({
      code: 'invalid_input',
      field: 'width',
    });
    await expect(
      planner.plan({ prompt: PROMPT, width: 512, height: 512, seed: 1, topP: 0 }),
    ).rejects.toMatchObject({
      field: 'topP',
    });
  });

  it('stops between tokens when the signal aborts', async () => {
    const controller = new AbortController();
    let last = 0;
    const run = planner.plan(
      { prompt: PROMPT, width: 512, height: 512, seed: 3 },
      {
        signal: controller.signal,
        onProgress: (generated) => {
          last = generated;
          if (generated >= 20) controller.abort();
        },
      },
    );
    await expect(run).rejects.toBeInstanceOf(CanceledError);
    expect(last).toBeLessThan(512);
    // the planner is still usable after a cancellation
    const after = await planner.plan({ prompt: PROMPT, width: 512, height: 512, seed: 3 });
    expect(after.main.tokens).toHaveLength(256);
  });
});

describe('token loop', () => {
  let session: InferenceSession;
  let tokenizer: PlannerTokenizer;
  beforeAll(async () => {
    session = await openSession(pack.files.planner, { executionProvider: 'cpu', intraOpThreads: 1 });
    tokenizer = await PlannerTokenizer.load(pack);
  });
  afterAll(async () => {
    await session?.release();
  });

  // The no-cache loop re-feeds the whole sequence each step, which is slow by nature;
  // the first tokens (preview region included) are enough to show both paths agree.
  it('gives the same tokens with and without the KV cache, padded batch included', async () => {
    const layout = planLayout(pack.manifest, 512, 512);
    const rows = [PROMPT, 'a white "sale" sign on a dark red wall, simple flat illustration'].map(
      (prompt, i) => ({
        promptIds: tokenizer.encode(buildPromptText(pack.manifest, prompt, layout)),
        seed: 100 + i,
        sampling: pack.manifest.planner.sampling,
      }),
    );
    const run = (useKvCache: boolean) =>
      runTokenLoop(session, pack.manifest, rows, {
        count: 40,
        padId: tokenizer.padId,
        useKvCache,
        beforeStep: () => {},
        onToken: () => {},
      });
    const cached = await run(true);
    const uncached = await run(false);
    expect(cached.map((r) => r.length)).toEqual([40, 40]);
    expect(uncached).toEqual(cached);
  });

  it('puts each reference between image markers ahead of the text prompt', () => {
    const layout = planLayout(pack.manifest, 512, 512);
    const { firstTokenId } = pack.manifest.planner.imageVocab;
    const ids = buildPromptIds(tokenizer, pack.manifest, PROMPT, layout, [[5, 6], [7]]);
    const text = tokenizer.encode(buildPromptText(pack.manifest, PROMPT, layout));
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
    expect(buildPromptIds(tokenizer, pack.manifest, PROMPT, layout)).toEqual(text);
  });

  it('gives the same tokens with and without the KV cache for rows with a reference image', async () => {
    const layout = planLayout(pack.manifest, 512, 512);
    const reference = discGrid(16, 16);
    const rows = ['make the background green', 'a yellow circle'].map((prompt, i) => ({
      promptIds: buildPromptIds(tokenizer, pack.manifest, prompt, layout, [reference.tokens]),
      seed: 7 + i,
      sampling: pack.manifest.planner.sampling,
    }));
    const run = (useKvCache: boolean) =>
      runTokenLoop(session, pack.manifest, rows, {
        count: 10,
        padId: tokenizer.padId,
        useKvCache,
        beforeStep: () => {},
        onToken: () => {},
      });
    expect(await run(false)).toEqual(await run(true));
  });

  it('batches only rows with the same number of references, each checked against its grid', async () => {
    const reference = discGrid(16, 16);
    const base = { prompt: PROMPT, width: 512, height: 512, seed: 1 };
    expect(planBatchKey({ ...base, references: [reference] })).not.toBe(planBatchKey(base));
    await expect(planner.planBatch([base, { ...base, references: [reference] }])).rejects.toMatchObject({
      field: 'references',
    });
    await expect(planner.plan({ ...base, references: [discGrid(8, 8)] })).rejects.toMatchObject({
      field: 'references[0]',
    });
    const tooMany = Array.from({ length: 5 }, () => reference);
    await expect(planner.plan({ ...base, references: tooMany })).rejects.toBeInstanceOf(InvalidInputError);
    // The plan follows the reference: its disc, recoloured as asked.
    const plan = await planner.plan({ ...base, prompt: 'make the circle yellow', references: [reference] });
    expect(plan.main.tokens[4 * 16 + 11]).toBeGreaterThanOrEqual(
      encodeToken(Region.shape, colour('yellow'), 0),
    );
    expect(plan.main.tokens[4 * 16 + 11]).toBeLessThan(encodeToken(Region.shape, colour('yellow') + 1, 0));
  });
});

const colour = (name: string) => PALETTE.findIndex((p) => p.name === name);

/** A main grid with a red disc (centre row 4, column 11) on blue, as the image tokenizer reads one. */
function discGrid(rows: number, cols: number): TokenGrid {
  const tokens: number[] = [];
  for (let r = 0; r < rows; r += 1) {
    for (let c = 0; c < cols; c += 1) {
      const inDisc = Math.hypot(r + 0.5 - 4.5, c + 0.5 - 11.5) < 2.5;
      tokens.push(
        inDisc
          ? encodeToken(Region.shape, colour('red'), 128)
          : encodeToken(Region.background, colour('blue'), 128),
      );
    }
  }
  return { rows, cols, tokens };
}
