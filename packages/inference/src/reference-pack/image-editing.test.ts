/**
 * Image-to-image with the reference pack, judged on the images themselves: the reference
 * is tokenized for the planner, the plan follows it, and the decoder reads its cache.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decoder } from '../decoder/decoder.ts';
import { loadModelPack } from '../model-pack.ts';
import { ImageTokenizer } from '../planner/image-tokenizer.ts';
import { Planner, type TokenGrid } from '../planner/planner.ts';
import { colourRegion, discImage, dominantChannel, meanColour } from '../testing/image-checks.ts';
import { cellMeaning } from '../testing/reference-generation.ts';
import { buildReferencePack } from './build-pack.ts';
import { Region } from './semantic-codebook.ts';

const SIZE = { width: 512, height: 512 };
/** The reference: a red disc up and to the right, on blue; its red is not the palette's. */
const DISC = { x: 0.66, y: 0.34, radius: 0.16 };
const REFERENCE_RED: [number, number, number] = [235, 60, 60];

let dir: string;
let tokenizer: ImageTokenizer;
let planner: Planner;
let decoder: Decoder;
let reference: Buffer;
let referenceTokens: TokenGrid;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glm-edit-pack-'));
  await buildReferencePack(dir);
  const pack = await loadModelPack(dir);
  const options = { executionProvider: 'cpu' as const, intraOpThreads: 1 };
  [tokenizer, planner, decoder] = await Promise.all([
    ImageTokenizer.load(pack, options).then((t) => t!),
    Planner.load(pack, options),
    Decoder.load(pack, options),
  ]);
  reference = await discImage({ ...SIZE, disc: DISC, fill: REFERENCE_RED, background: [30, 70, 220] });
  referenceTokens = await tokenizer.tokenize(reference, SIZE.width, SIZE.height);
});

afterAll(async () => {
  await Promise.allSettled([tokenizer?.close(), planner?.close(), decoder?.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function edit(prompt: string, options: { references: boolean; guidanceScale?: number; seed?: number }) {
  const seed = options.seed ?? 3;
  const references = options.references ? [referenceTokens] : [];
  const plan = await planner.plan({ prompt, ...SIZE, seed, references });
  const { image } = await decoder.render({
    prompt,
    main: plan.main,
    ...SIZE,
    seed,
    steps: 3,
    ...(options.guidanceScale === undefined ? {} : { guidanceScale: options.guidanceScale }),
    ...(options.references ? { references: [{ image: reference, tokens: referenceTokens }] } : {}),
  });
  return { plan, image };
}

describe('editing a picture with the reference pack', () => {
  it('tokenizes the reference into a disc of shape cells where the disc is, background elsewhere', () => {
    expect([referenceTokens.rows, referenceTokens.cols]).toEqual([16, 16]);
    const centre = cellMeaning(referenceTokens, Math.floor(DISC.y * 16), Math.floor(DISC.x * 16));
    expect(centre).toEqual({ region: Region.shape, colour: 'red' });
    expect(cellMeaning(referenceTokens, 14, 2)).toEqual({ region: Region.background, colour: 'blue' });
  });

  it('"make the background green": the disc stays where it was, red, and the background turns green', async () => {
    const { image } = await edit('make the background green', { references: true });
    const red = await colourRegion(image, 'red');
    const referenceRed = await colourRegion(reference, 'red');
    expect(red.centroid!.x).toBeCloseTo(DISC.x, 1);
    expect(red.centroid!.y).toBeCloseTo(DISC.y, 1);
    // The same disc: its area within a cell's width of the reference's all round.
    expect(red.fraction).toBeGreaterThan(referenceRed.fraction * 0.75);
    expect(red.fraction).toBeLessThan(referenceRed.fraction * 1.3);
    expect(
      dominantChannel(await meanColour(image, { x: DISC.x - 0.04, y: DISC.y - 0.04, w: 0.08, h: 0.08 })),
    ).toBe('red');
    for (const corner of [
      { x: 0, y: 0 },
      { x: 0.9, y: 0 },
      { x: 0, y: 0.9 },
      { x: 0.9, y: 0.9 },
    ]) {
      expect(dominantChannel(await meanColour(image, { ...corner, w: 0.1, h: 0.1 }))).toBe('green');
    }
    expect((await colourRegion(image, 'blue')).fraction).toBe(0);
    expect((await colourRegion(image, 'green')).fraction).toBeGreaterThan(1 - red.fraction - 0.05);
  });

  it('without the reference, the same prompt lays out something else: no disc at all', async () => {
    const { image, plan } = await edit('make the background green', { references: false });
    expect((await colourRegion(image, 'red')).fraction).toBe(0);
    expect(
      dominantChannel(await meanColour(image, { x: DISC.x - 0.04, y: DISC.y - 0.04, w: 0.08, h: 0.08 })),
    ).toBe('green');
    expect(
      plan.main.tokens.every((_, i) => cellMeaning(plan.main, Math.floor(i / 16), i % 16).region === 0),
    ).toBe(true);
  });

  it('recolours the shape instead when the prompt names it', async () => {
    const { plan } = await edit('make the circle yellow', { references: true });
    const disc = cellMeaning(plan.main, Math.floor(DISC.y * 16), Math.floor(DISC.x * 16));
    expect(disc).toEqual({ region: Region.shape, colour: 'yellow' });
    expect(cellMeaning(plan.main, 14, 2)).toEqual({ region: Region.background, colour: 'blue' });
  });

  it("keeps the reference's own colour where the edit leaves it: the decoder reads its cache", async () => {
    // Guidance off, so the conditional branch alone decides the colours.
    const withCache = await edit('make the background green', { references: true, guidanceScale: 0 });
    const discBox = { x: DISC.x - 0.05, y: DISC.y - 0.05, w: 0.1, h: 0.1 };
    const [r, g, b] = await meanColour(withCache.image, discBox);
    expect(Math.abs(r - REFERENCE_RED[0])).toBeLessThan(10);
    expect(Math.abs(g - REFERENCE_RED[1])).toBeLessThan(10);
    expect(Math.abs(b - REFERENCE_RED[2])).toBeLessThan(10);
    // The same plan decoded without the cache: the palette's red, shaded by the planner.
    const { image } = await decoder.render({
      prompt: 'make the background green',
      main: withCache.plan.main,
      ...SIZE,
      seed: 3,
      steps: 3,
      guidanceScale: 0,
    });
    const [, plainGreen] = await meanColour(image, discBox);
    expect(plainGreen).toBeLessThan(REFERENCE_RED[1] - 20);
  });
});
