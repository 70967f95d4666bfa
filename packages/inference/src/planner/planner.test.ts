import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CanceledError, InvalidInputError } from '../errors.ts';
import { loadModelPack, type ModelPack } from '../model-pack.ts';
import { buildReferencePack } from '../reference-pack/build-pack.ts';
import { encodeToken, Region } from '../reference-pack/semantic-codebook.ts';
import { colour, discGrid } from '../testing/reference-grids.ts';
import { Planner } from './planner.ts';

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

  it('plans concurrent requests of mixed sizes in one batch, each as it would alone', async () => {
    const requests = [
      { prompt: PROMPT, width: 512, height: 512, seed: 21 },
      { prompt: 'a green square under a "TOP" sign', width: 768, height: 512, seed: 22 },
      { prompt: 'a blue square', width: 512, height: 1024, seed: 23 },
    ];
    const alone = [];
    for (const request of requests) alone.push(await planner.plan(request));
    const before = await planner.stats();
    const together = await Promise.all(requests.map((request) => planner.plan(request)));
    const mixedBatch = await planner.planBatch(requests);
    for (const [i, result] of together.entries()) {
      expect(result.preview).toEqual(alone[i]!.preview);
      expect(result.main).toEqual(alone[i]!.main);
      expect(mixedBatch[i]!.main).toEqual(alone[i]!.main);
    }
    expect(together[1]!.main).toMatchObject({ rows: 16, cols: 24 });
    expect(together[2]!.main).toMatchObject({ rows: 32, cols: 16 });
    // The concurrent plans shared model calls: more rows than steps.
    const after = await planner.stats();
    expect(after.cached.rowSteps - before.cached.rowSteps).toBeGreaterThan(
      after.cached.steps - before.cached.steps,
    );
  });

  it('refuses invalid requests with InvalidInputError', async () => {
    const error = await planner
      .planBatch([
        { prompt: PROMPT, width: 512, height: 512, seed: 1 },
        { prompt: PROMPT, width: 512, height: 512, seed: 1, useKvCache: false },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).field).toBe('useKvCache');
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

  it('checks each reference image against its grid, and plans after it', async () => {
    const reference = discGrid(16, 16);
    const base = { prompt: PROMPT, width: 512, height: 512, seed: 1 };
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

  it('plans concurrent requests with and without references, each as it would alone', async () => {
    const reference = discGrid(16, 16);
    const requests = [
      { prompt: PROMPT, width: 512, height: 512, seed: 31 },
      { prompt: 'make the background green', width: 512, height: 512, seed: 32, references: [reference] },
      { prompt: 'a green square under a "TOP" sign', width: 768, height: 512, seed: 33 },
      {
        prompt: 'make the circle yellow',
        width: 512,
        height: 512,
        seed: 34,
        references: [reference, discGrid(16, 16)],
      },
      { prompt: 'the circle to purple', width: 512, height: 512, seed: 35, references: [reference] },
    ];
    const alone = [];
    for (const request of requests) alone.push(await planner.plan(request));
    const together = await Promise.all(requests.map((request) => planner.plan(request)));
    const mixedBatch = await planner.planBatch(requests);
    for (const [i, result] of together.entries()) {
      expect(result.main).toEqual(alone[i]!.main);
      expect(result.preview).toEqual(alone[i]!.preview);
      expect(mixedBatch[i]!.main).toEqual(alone[i]!.main);
    }
    // Each reference's tokens and its two image markers are part of the prompt.
    const textOnly = await planner.plan({ ...requests[3]!, references: [] });
    expect(alone[3]!.promptTokens - textOnly.promptTokens).toBe(2 * (16 * 16 + 2));
  });
});
