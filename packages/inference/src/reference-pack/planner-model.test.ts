import { Tokenizer } from '@huggingface/tokenizers';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildPlannerModel } from './planner-model.ts';
import {
  BEGIN_OF_IMAGE_ID,
  END_OF_IMAGE_ID,
  IMAGE_TOKEN_OFFSET,
  REFERENCE_MANIFEST,
} from './reference-manifest.ts';
import { decodeToken, encodeToken, PALETTE, Region } from './semantic-codebook.ts';
import { buildTokenizerJson, PAD_ID } from './tokenizer-json.ts';

const { numLayers, numKvHeads, headDim, imageVocab, sampling } = REFERENCE_MANIFEST.planner;
const END_INDEX = END_OF_IMAGE_ID - IMAGE_TOKEN_OFFSET;
const colour = (name: string) => PALETTE.findIndex((p) => p.name === name);

const tokenizer = new Tokenizer(buildTokenizerJson(), {});
let planner: ort.InferenceSession;

beforeAll(async () => {
  // One thread: the test machine's cores are shared, and a step is tiny anyway.
  planner = await ort.InferenceSession.create(buildPlannerModel(), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
});

type Grid = { main: { h: number; w: number }; preview: { h: number; w: number }; count: number };

function grid(main: Grid['main'], preview: Grid['preview']): Grid {
  return { main, preview, count: preview.h * preview.w + main.h * main.w };
}

/** The grids the runtime asks for at an image size. */
function gridsFor(height: number, width: number): Grid {
  return grid(
    { h: height / 32, w: width / 32 },
    { h: Math.floor(Math.sqrt(height / width) * 16), w: Math.floor(Math.sqrt(width / height) * 16) },
  );
}

/** Bit-for-bit equality, without a slow element-wise deep compare. */
function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

/** Smaller than any pack size; the model itself takes any grid, and short runs keep tests quick. */
const SMALL = grid({ h: 8, w: 8 }, { h: 4, w: 4 });

function promptIds(prompt: string, { main, preview }: Grid): number[] {
  const text = `${prompt}<sop>${main.h} ${main.w}<eop><sop>${preview.h} ${preview.w}<eop><|begin_of_image|>`;
  return tokenizer.encode(text).ids;
}

/** mulberry32: a tiny seeded generator, enough for a reproducible test sampler. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Temperature + top-p sampling over one row of image-vocabulary logits; returns the index. */
function sample(logits: Float32Array, random: () => number): number {
  let top = Number.NEGATIVE_INFINITY;
  for (const l of logits) top = Math.max(top, l);
  const weights = new Float64Array(logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i += 1) {
    weights[i] = Math.exp((logits[i]! - top) / sampling.temperature);
    total += weights[i]!;
  }
  const candidates: number[] = [];
  for (let i = 0; i < weights.length; i += 1) if (weights[i]! > total * 1e-9) candidates.push(i);
  candidates.sort((a, b) => weights[b]! - weights[a]! || a - b);
  let kept = 0;
  let mass = 0;
  while (kept < candidates.length && mass < sampling.topP * total) mass += weights[candidates[kept++]!]!;
  let u = random() * mass;
  for (let j = 0; j < kept; j += 1) {
    u -= weights[candidates[j]!]!;
    if (u <= 0) return candidates[j]!;
  }
  return candidates[kept - 1]!;
}

type Cache = Record<string, ort.Tensor>;
const int64 = (values: number[], dims: number[]) =>
  new ort.Tensor('int64', BigInt64Array.from(values, BigInt), dims);

function emptyCache(batch: number): Cache {
  const cache: Cache = {};
  for (let i = 0; i < numLayers; i += 1) {
    for (const kind of ['key', 'value']) {
      cache[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', new Float32Array(0), [
        batch,
        numKvHeads,
        0,
        headDim,
      ]);
    }
  }
  return cache;
}

/** One forward pass over `ids` (rows of equal length) with the given full attention mask. */
async function forward(ids: number[][], mask: number[][], cache: Cache) {
  const batch = ids.length;
  const seq = ids[0]!.length;
  const positions = mask.map((row) => {
    let seen = 0;
    return row.map((m) => {
      seen += m;
      return Math.max(seen - 1, 0);
    });
  });
  const out = await planner.run({
    input_ids: int64(ids.flat(), [batch, seq]),
    attention_mask: int64(mask.flat(), [batch, mask[0]!.length]),
    position_ids: int64(
      positions.flatMap((row) => row.slice(-seq)),
      [batch, seq],
    ),
    ...cache,
  });
  const next: Cache = {};
  for (let i = 0; i < numLayers; i += 1) {
    next[`past_key_values.${i}.key`] = out[`present.${i}.key`]!;
    next[`past_key_values.${i}.value`] = out[`present.${i}.value`]!;
  }
  const logits = out.logits!.data as Float32Array;
  const row = (b: number, t: number) =>
    logits.subarray((b * seq + t) * imageVocab.size, (b * seq + t + 1) * imageVocab.size);
  return { next, row, seq };
}

/**
 * Left-pads the prompts, prefills in `chunks` pieces, then decodes with the KV cache
 * until every row has emitted <|end_of_image|> (or `maxSteps`). Returns sampled indices.
 */
async function generate(prompts: number[][], seeds: number[], maxSteps: number, chunks = 1) {
  const width = Math.max(...prompts.map((p) => p.length));
  const ids = prompts.map((p) => [...new Array<number>(width - p.length).fill(PAD_ID), ...p]);
  const mask = prompts.map((p) => [...new Array<number>(width - p.length).fill(0), ...p.map(() => 1)]);
  const randoms = seeds.map(seededRandom);
  let cache = emptyCache(prompts.length);
  const bounds = Array.from({ length: chunks + 1 }, (_, i) => Math.round((i * width) / chunks));
  let result: Awaited<ReturnType<typeof forward>> | undefined;
  for (let c = 0; c < chunks; c += 1) {
    const [from, to] = [bounds[c]!, bounds[c + 1]!];
    result = await forward(
      ids.map((row) => row.slice(from, to)),
      mask.map((row) => row.slice(0, to)),
      cache,
    );
    cache = result.next;
  }
  const tokens: number[][] = prompts.map(() => []);
  let lastLogits: Float32Array[] = [];
  for (let step = 0; step < maxSteps && tokens.some((t) => t.at(-1) !== END_INDEX); step += 1) {
    const current = result;
    if (!current) throw new Error('no prefill chunk ran');
    lastLogits = prompts.map((_, b) => current.row(b, current.seq - 1));
    const picked = prompts.map((_, b) => sample(lastLogits[b]!, randoms[b]!));
    for (const [b, index] of picked.entries()) tokens[b]!.push(index);
    for (const row of mask) row.push(1);
    result = await forward(
      picked.map((index) => [index + IMAGE_TOKEN_OFFSET]),
      mask,
      cache,
    );
    cache = result.next;
  }
  return { tokens, lastLogits };
}

function cellsOf(tokens: number[], { main, preview }: Grid) {
  const cells = tokens.slice(0, -1).map(decodeToken);
  const previewCells = cells.slice(0, preview.h * preview.w);
  const mainCells = cells.slice(preview.h * preview.w);
  return {
    preview: (r: number, c: number) => previewCells[r * preview.w + c]!,
    main: (r: number, c: number) => mainCells[r * main.w + c]!,
    mainCells,
  };
}

/**
 * The most likely token of every cell, from one pass without cache over a filler image
 * (the layout depends only on the prompt and the cell index, not on earlier image tokens).
 */
async function layoutOf(prompt: string, g: Grid) {
  const ids = promptIds(prompt, g);
  const sequence = [...ids, ...new Array<number>(g.count).fill(IMAGE_TOKEN_OFFSET)];
  const full = await forward([sequence], [sequence.map(() => 1)], emptyCache(1));
  const best = Array.from({ length: g.count + 1 }, (_, i) => {
    const row = full.row(0, ids.length - 1 + i);
    let top = 0;
    for (let j = 1; j < row.length; j += 1) if (row[j]! > row[top]!) top = j;
    return top;
  });
  return { best, cells: cellsOf(best, g) };
}

describe('reference planner model', () => {
  it('builds deterministically, small, with the Optimum input and output names', () => {
    const bytes = buildPlannerModel();
    expect(sameBytes(bytes, buildPlannerModel())).toBe(true);
    expect(bytes.byteLength).toBeLessThan(3_000_000);
    const layers = Array.from({ length: numLayers }, (_, i) => i);
    expect(planner.inputNames).toEqual([
      'input_ids',
      'attention_mask',
      'position_ids',
      ...layers.flatMap((i) => [`past_key_values.${i}.key`, `past_key_values.${i}.value`]),
    ]);
    expect(planner.outputNames).toEqual([
      'logits',
      ...layers.flatMap((i) => [`present.${i}.key`, `present.${i}.value`]),
    ]);
  });

  it('runs a first step on empty past and returns present = past + this step', async () => {
    const ids = promptIds('a red circle', SMALL);
    const first = await forward([ids], [ids.map(() => 1)], emptyCache(1));
    expect(first.seq).toBe(ids.length);
    expect(first.row(0, ids.length - 1)).toHaveLength(imageVocab.size);
    const present = first.next['past_key_values.1.value']!;
    expect(present.dims).toEqual([1, numKvHeads, ids.length, headDim]);
    const second = await forward([[IMAGE_TOKEN_OFFSET]], [[...ids.map(() => 1), 1]], first.next);
    const grown = second.next['past_key_values.1.value']!;
    expect(grown.dims).toEqual([1, numKvHeads, ids.length + 1, headDim]);
    expect(
      sameBytes((grown.data as Float32Array).subarray(0, present.size), present.data as Float32Array),
    ).toBe(true);
  });

  it('draws "a red circle on a blue background" at 512x512: blue corners, red centre, preview agrees', async () => {
    const g = gridsFor(512, 512);
    const { tokens } = await generate([promptIds('A red circle on a blue background', g)], [7], g.count + 5);
    const sequence = tokens[0]!;
    expect(sequence).toHaveLength(g.count + 1);
    expect(sequence.slice(0, -1)).not.toContain(END_INDEX);
    expect(sequence.at(-1)).toBe(END_INDEX);
    expect(Math.max(...sequence.slice(0, -1))).toBeLessThan(END_INDEX);

    const cells = cellsOf(sequence, g);
    for (const at of [cells.main, cells.preview]) {
      for (const [r, c] of [
        [0, 0],
        [0, 15],
        [15, 0],
        [15, 15],
      ] as const) {
        expect(at(r, c)).toMatchObject({ region: Region.background, colour: colour('blue') });
      }
      for (const [r, c] of [
        [7, 7],
        [7, 8],
        [8, 7],
        [8, 8],
      ] as const) {
        expect(at(r, c)).toMatchObject({ region: Region.shape, colour: colour('red') });
      }
    }
    // The shade is sampled, and no text panel was asked for.
    expect(new Set(cells.mainCells.map((c) => c.detail)).size).toBeGreaterThan(20);
    expect(cells.mainCells.some((c) => c.region === Region.textPanel)).toBe(false);
  });

  it('gives the same tokens with the KV cache, chunked prefill, and one full pass without cache', async () => {
    const prompt = promptIds('a yellow triangle on a navy sky', SMALL);
    const cached = await generate([prompt], [11], SMALL.count + 1);
    expect(cached.tokens[0]).toHaveLength(SMALL.count + 1);
    const chunked = await generate([prompt], [11], SMALL.count + 1, 3);
    expect(chunked.tokens).toEqual(cached.tokens);

    // Without cache: the whole sequence at once, sampling each position with the same seed.
    const sequence = [...prompt, ...cached.tokens[0]!.slice(0, -1).map((t) => t + IMAGE_TOKEN_OFFSET)];
    const full = await forward([sequence], [sequence.map(() => 1)], emptyCache(1));
    const random = seededRandom(11);
    const replayed = cached.tokens[0]!.map((_, i) => sample(full.row(0, prompt.length - 1 + i), random));
    expect(replayed).toEqual(cached.tokens[0]);
    expect(sameBytes(full.row(0, sequence.length - 1), cached.lastLogits[0]!)).toBe(true);
  });

  it('changes the detail, not the layout, with another seed', async () => {
    const prompt = promptIds('a green square', SMALL);
    const [a, b] = [
      await generate([prompt], [1], SMALL.count + 1),
      await generate([prompt], [2], SMALL.count + 1),
    ];
    expect(a.tokens[0]).not.toEqual(b.tokens[0]);
    for (const tokens of [a.tokens[0]!, b.tokens[0]!]) {
      const cells = cellsOf(tokens, SMALL);
      expect(cells.main(0, 0)).toMatchObject({ region: Region.background, colour: colour('white') });
      expect(cells.main(4, 4)).toMatchObject({ region: Region.shape, colour: colour('green') });
      expect(cells.preview(2, 2)).toMatchObject({ region: Region.shape, colour: colour('green') });
    }
  });

  it('draws the named shape kind, and colours from synonyms, fallbacks and defaults', async () => {
    const g = grid(gridsFor(512, 512).main, { h: 1, w: 1 }); // only the main grid is inspected
    // Cell (4,4) lies inside the square only; cell (10,3) inside the triangle only.
    const cases = [
      ['a teal circle', 'teal', Region.background, Region.background],
      ['a grey SQUARE on a violet wall', 'gray', Region.shape, Region.background],
      ['crimson triangle', 'red', Region.background, Region.shape],
    ] as const;
    for (const [prompt, shapeColour, at44, at103] of cases) {
      const { cells } = await layoutOf(prompt, g);
      expect(cells.main(8, 8), prompt).toMatchObject({ region: Region.shape, colour: colour(shapeColour) });
      expect(cells.main(4, 4).region, prompt).toBe(at44);
      expect(cells.main(10, 3).region, prompt).toBe(at103);
    }
    expect((await layoutOf('a grey SQUARE on a violet wall', g)).cells.main(0, 0).colour).toBe(
      colour('purple'),
    );
    // A free colour word still draws a shape; a bare background draws none.
    expect((await layoutOf('something blue', g)).cells.main(8, 8)).toMatchObject({
      region: Region.shape,
      colour: colour('blue'),
    });
    const plain = await layoutOf('a pink background', g);
    expect(
      plain.cells.mainCells.every((c) => c.region === Region.background && c.colour === colour('pink')),
    ).toBe(true);
    expect((await layoutOf('a ball', g)).cells.main(8, 8)).toMatchObject({
      region: Region.shape,
      colour: colour('gray'),
    });
    expect(plain.best.at(-1)).toBe(END_INDEX);
  });

  it('handles 768x512 with quoted text: shape above, white text panel in the lower band', async () => {
    const g = gridsFor(768, 512);
    expect(g.main).toEqual({ h: 24, w: 16 });
    const prompt = promptIds('a poster that says "HELLO" with a purple circle on an orange background', g);
    const { tokens } = await generate([prompt], [3], g.count + 1);
    expect(tokens[0]).toHaveLength(g.count + 1);
    expect(tokens[0]!.at(-1)).toBe(END_INDEX);
    const cells = cellsOf(tokens[0]!, g);
    for (let r = 0; r < g.main.h; r += 1) {
      for (let c = 0; c < g.main.w; c += 1) {
        if ((r + 0.5) / g.main.h < 0.5) expect(cells.main(r, c).region).not.toBe(Region.textPanel);
      }
    }
    for (const r of [18, 19]) {
      for (const c of [3, 8, 12]) {
        expect(cells.main(r, c)).toMatchObject({ region: Region.textPanel, colour: colour('white') });
      }
    }
    expect(cells.main(Math.round(0.36 * g.main.h), 8)).toMatchObject({
      region: Region.shape,
      colour: colour('purple'),
    });
    expect(cells.main(0, 0)).toMatchObject({ region: Region.background, colour: colour('orange') });
    // The preview grid (19x13) carries the same layout.
    expect(g.preview).toEqual({ h: 19, w: 13 });
    expect(cells.preview(15, 6)).toMatchObject({ region: Region.textPanel, colour: colour('white') });
    expect(cells.preview(7, 6)).toMatchObject({ region: Region.shape, colour: colour('purple') });
  });

  it('reserves the text panel for single or CJK quotes too, not for a lone apostrophe', async () => {
    const g = grid(gridsFor(512, 512).main, { h: 1, w: 1 });
    const panelAt = async (prompt: string) => (await layoutOf(prompt, g)).cells.main(13, 8).region;
    expect(await panelAt("a sign reading 'OPEN'")).toBe(Region.textPanel);
    expect(await panelAt('一个写着「你好」的红色圆')).toBe(Region.textPanel);
    expect(await panelAt("the cat's red ball")).toBe(Region.background);
  });

  it('binds a colour to its noun across adjectives, and ignores colour words inside quotes', async () => {
    const g = grid(gridsFor(512, 512).main, { h: 1, w: 1 });
    const hedge = await layoutOf('a tall green hedge under a pale yellow ceiling', g);
    expect(hedge.cells.main(8, 8)).toMatchObject({ region: Region.shape, colour: colour('green') });
    expect(hedge.cells.main(0, 0)).toMatchObject({ region: Region.background, colour: colour('yellow') });
    // Too many words between a colour and a noun: the colour is free, and draws a circle.
    const far = await layoutOf('a red and very big old shiny stone wall', g);
    expect(far.cells.main(0, 0).colour).toBe(colour('white'));
    expect(far.cells.main(8, 8)).toMatchObject({ region: Region.shape, colour: colour('red') });
    const quoted = await layoutOf('a sign that says "RED BLUE"', g);
    expect(quoted.cells.mainCells.some((c) => c.region === Region.shape)).toBe(false);
    expect(quoted.cells.main(0, 0)).toMatchObject({ region: Region.background, colour: colour('white') });
  });

  it('puts several objects side by side, stacks them on a relation, and lays a ground band', async () => {
    const g = grid(gridsFor(512, 512).main, { h: 1, w: 1 });
    const row = await layoutOf('a red circle, a green square and a blue triangle', g);
    expect(row.cells.main(8, 2)).toMatchObject({ region: Region.shape, colour: colour('red') });
    expect(row.cells.main(8, 8)).toMatchObject({ region: Region.shape, colour: colour('green') });
    expect(row.cells.main(8, 13)).toMatchObject({ region: Region.shape, colour: colour('blue') });
    const stack = await layoutOf('a red ball on a blue box', g);
    expect(stack.cells.main(4, 8)).toMatchObject({ region: Region.shape, colour: colour('red') });
    expect(stack.cells.main(11, 8)).toMatchObject({ region: Region.shape, colour: colour('blue') });
    const under = await layoutOf('a red ball under a blue box', g);
    expect(under.cells.main(4, 8).colour).toBe(colour('blue'));
    expect(under.cells.main(11, 8).colour).toBe(colour('red'));
    const ground = await layoutOf('a yellow sun over the sea', g);
    expect(ground.cells.main(15, 0)).toMatchObject({ region: Region.background, colour: colour('blue') });
    expect(ground.cells.main(0, 0)).toMatchObject({ region: Region.background, colour: colour('white') });
    expect(ground.cells.main(6, 8)).toMatchObject({ region: Region.shape, colour: colour('yellow') });
  });

  it('gives each left-padded row of a batch the same tokens as running it alone', async () => {
    const long = promptIds('a big pink circle on a black background, minimal flat style', SMALL);
    const short = promptIds('gold ball', SMALL);
    expect(long.length).toBeGreaterThan(short.length + 5);
    const batched = await generate([long, short], [5, 6], SMALL.count + 1);
    const alone = [
      await generate([long], [5], SMALL.count + 1),
      await generate([short], [6], SMALL.count + 1),
    ];
    expect(batched.tokens[0]).toEqual(alone[0]!.tokens[0]);
    expect(batched.tokens[1]).toEqual(alone[1]!.tokens[0]);
    expect(batched.tokens[1]!.at(-1)).toBe(END_INDEX);
    const shortCells = cellsOf(batched.tokens[1]!, SMALL);
    expect(shortCells.main(4, 4)).toMatchObject({ region: Region.shape, colour: colour('gold') });
    expect(shortCells.main(0, 0)).toMatchObject({ region: Region.background, colour: colour('white') });
    expect(cellsOf(batched.tokens[0]!, SMALL).main(0, 0)).toMatchObject({ colour: colour('black') });
  });

  it('binds a colour that follows its noun across linking words, and only then', async () => {
    const g = grid(gridsFor(512, 512).main, { h: 1, w: 1 });
    const background = await layoutOf('make the background green', g);
    expect(
      background.cells.mainCells.every((c) => c.region === Region.background && c.colour === colour('green')),
    ).toBe(true);
    const circle = await layoutOf('a circle that is red on a wall painted blue', g);
    expect(circle.cells.main(8, 8)).toMatchObject({ region: Region.shape, colour: colour('red') });
    expect(circle.cells.main(0, 0)).toMatchObject({ region: Region.background, colour: colour('blue') });
    // A colour that found its noun is not taken again by the next one.
    const kept = await layoutOf('make the circle red, keep the background', g);
    expect(kept.cells.main(8, 8)).toMatchObject({ region: Region.shape, colour: colour('red') });
    expect(kept.cells.main(0, 0).colour).toBe(colour('white'));
    // A named colour beats a default one, wherever it stands: the sky is blue unless told.
    expect((await layoutOf('turn the sky to purple', g)).cells.main(0, 0).colour).toBe(colour('purple'));
    expect((await layoutOf('a sky', g)).cells.main(0, 0).colour).toBe(colour('blue'));
    // Anything else between them keeps them apart: the colour draws a circle of its own.
    const apart = await layoutOf('a wall and red', g);
    expect(apart.cells.main(0, 0).colour).toBe(colour('white'));
    expect(apart.cells.main(8, 8)).toMatchObject({ region: Region.shape, colour: colour('red') });
  });

  it('lays a reference image out cell by cell, the same however the prompt is chunked', async () => {
    const main = { h: 8, w: 8 };
    const g = grid(main, { h: 4, w: 4 });
    const reference = Array.from({ length: main.h * main.w }, (_, i) => {
      const [r, c] = [Math.floor(i / main.w), i % main.w];
      return r >= 1 && r <= 3 && c >= 5 && c <= 7
        ? encodeToken(Region.shape, colour('red'), 128)
        : encodeToken(Region.background, colour('blue'), 128);
    });
    const prompt = [
      BEGIN_OF_IMAGE_ID,
      ...reference.map((t) => t + IMAGE_TOKEN_OFFSET),
      END_OF_IMAGE_ID,
      ...promptIds('make the background green', g),
    ];
    const whole = await generate([prompt], [4], g.count + 1);
    expect((await generate([prompt], [4], g.count + 1, 4)).tokens).toEqual(whole.tokens);
    // Padded beside a longer prompt without a reference, too.
    const padded = await generate(
      [promptIds(`${'a very plain '.repeat(30)}blue circle`, g), prompt],
      [1, 4],
      g.count + 1,
    );
    expect(padded.tokens[1]).toEqual(whole.tokens[0]);
    const cells = cellsOf(whole.tokens[0]!, g);
    for (let r = 0; r < main.h; r += 1) {
      for (let c = 0; c < main.w; c += 1) {
        const inShape = r >= 1 && r <= 3 && c >= 5 && c <= 7;
        expect(cells.main(r, c), `${r},${c}`).toMatchObject(
          inShape
            ? { region: Region.shape, colour: colour('red') }
            : { region: Region.background, colour: colour('green') },
        );
      }
    }
    expect(cells.preview(0, 3)).toMatchObject({ region: Region.shape, colour: colour('red') });
    expect(cells.preview(3, 0)).toMatchObject({ region: Region.background, colour: colour('green') });
  });
});
