import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnsupportedFeatureError } from '@glm-image/shared/errors';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CanceledError, InvalidInputError } from '../errors.ts';
import { loadModelPack } from '../model-pack.ts';
import { buildReferencePack } from '../reference-pack/build-pack.ts';
import {
  buildTestPacks,
  type PanelCells,
  readTextLine,
  splitLayout,
  type TestPacks,
} from '../testing/decoder-test-packs.ts';
import { Decoder } from './decoder.ts';
import type { RenderRequest } from './render-request.ts';

const PANEL: PanelCells = { rowStart: 10, rowEnd: 14, colStart: 2, colEnd: 14 }; // on a 16x16 grid (512x512)

let packs: TestPacks;
let decoder: Decoder;

beforeAll(async () => {
  packs = await buildTestPacks();
  decoder = await Decoder.load(packs.reference);
});

afterAll(async () => {
  await decoder?.close();
  await packs?.remove();
});

function request512(overrides: Partial<RenderRequest> = {}): RenderRequest {
  return {
    prompt: 'a poster with a white sign saying "HELLO"',
    main: splitLayout(16, 16, PANEL),
    width: 512,
    height: 512,
    seed: 7,
    steps: 6,
    ...overrides,
  };
}

async function meanColour(
  png: Buffer,
  left: number,
  top: number,
  width: number,
  height: number,
): Promise<number[]> {
  const { data, info } = await sharp(png)
    .extract({ left, top, width, height })
    .raw()
    .toBuffer({ resolveWithObject: true });
  let [r, g, b] = [0, 0, 0];
  for (let i = 0; i < data.length; i += info.channels) {
    r += data[i] as number;
    g += data[i + 1] as number;
    b += data[i + 2] as number;
  }
  const pixels = data.length / info.channels;
  return [r / pixels, g / pixels, b / pixels];
}

describe('Decoder with the reference pack', () => {
  it('renders a 512x512 PNG whose colours follow the token grid and whose text reads back', async () => {
    const steps: number[] = [];
    const result = await decoder.render(request512(), {
      onStep: (step, total) => steps.push(step * 100 + total),
    });
    expect(result).toMatchObject({
      width: 512,
      height: 512,
      format: 'png',
      contentType: 'image/png',
      steps: 6,
    });
    expect(steps).toEqual([106, 206, 306, 406, 506, 606]);
    const meta = await sharp(result.image).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 512, height: 512, channels: 3 });

    const [lr, lg, lb] = await meanColour(result.image, 16, 16, 200, 250); // left half: red
    expect(lr).toBeGreaterThan(180);
    expect(Math.max(lg as number, lb as number)).toBeLessThan(80);
    const [rr, rg, rb] = await meanColour(result.image, 296, 16, 200, 250); // right half: blue
    expect(rb).toBeGreaterThan(180);
    expect(Math.max(rr as number, rg as number)).toBeLessThan(80);

    const panel = { left: 64, top: 320, width: 384, height: 128 }; // grid cells 2..14 x 10..14, 32 px each
    expect(await readTextLine(result.image, panel)).toBe('HELLO');
  });

  it('renders the quoted text of a non-square image as WebP and JPEG', async () => {
    // 768x512: main grid 16 rows x 24 cols; text panel across cells 4..20 of rows 5..11.
    const main = splitLayout(16, 24, { rowStart: 5, rowEnd: 11, colStart: 4, colEnd: 20 });
    const base = {
      prompt: 'a shop front with “SALE” in big letters',
      main,
      width: 768,
      height: 512,
      seed: 3,
      steps: 4,
    };
    const webp = await decoder.render({ ...base, format: 'webp' });
    expect(webp).toMatchObject({ width: 768, height: 512, format: 'webp', contentType: 'image/webp' });
    expect(await sharp(webp.image).metadata()).toMatchObject({ format: 'webp', width: 768, height: 512 });
    const jpeg = await decoder.render({ ...base, format: 'jpeg' });
    expect(jpeg).toMatchObject({ format: 'jpeg', contentType: 'image/jpeg' });
    expect(await sharp(jpeg.image).metadata()).toMatchObject({ format: 'jpeg', width: 768, height: 512 });
    expect(await readTextLine(jpeg.image, { left: 128, top: 160, width: 512, height: 192 })).toBe('SALE');
  });

  it('gives byte-identical PNGs for the same seed', async () => {
    const a = await decoder.render(request512({ seed: 11 }));
    const b = await decoder.render(request512({ seed: 11 }));
    expect(a.image.equals(b.image)).toBe(true);
  });

  it('runs the unconditional branch when guidance is on', async () => {
    // The reference model's unconditional target is neutral grey; guidance 3 pushes
    // colours further from it than the conditional branch alone (guidance 1) does.
    const off = await decoder.render(request512({ guidanceScale: 1 }));
    const on = await decoder.render(request512({ guidanceScale: 3 }));
    expect(off.image.equals(on.image)).toBe(false);
    const [offRed] = await meanColour(off.image, 16, 16, 200, 250);
    const [onRed] = await meanColour(on.image, 16, 16, 200, 250);
    expect(onRed as number).toBeGreaterThan(offRed as number);
  });

  it('stops between steps when aborted and stays usable', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const rendering = decoder.render(request512({ steps: 40 }), {
      signal: controller.signal,
      onStep: (step) => {
        seen.push(step);
        if (step === 3) controller.abort();
      },
    });
    await expect(rendering).rejects.toBeInstanceOf(CanceledError);
    expect(seen).toEqual([1, 2, 3]);
    const after = await decoder.render(request512({ steps: 2 }));
    expect(after.steps).toBe(2);
  });

  it('rejects an already aborted signal without running', async () => {
    const seen: number[] = [];
    await expect(
      decoder.render(request512(), { signal: AbortSignal.abort(), onStep: (s) => seen.push(s) }),
    ).rejects.toBeInstanceOf(CanceledError);
    expect(seen).toEqual([]);
  });

  it('rejects requests the pack cannot serve, naming the field', async () => {
    const fieldOf = (req: RenderRequest) => decoder.render(req).catch((e: unknown) => e);
    const badSize = await fieldOf(request512({ width: 500 }));
    expect(badSize).toBeInstanceOf(InvalidInputError);
    expect(badSize).toMatchObject({ code: 'invalid_input', field: 'width' });
    expect(await fieldOf(request512({ main: splitLayout(16, 24, PANEL) }))).toMatchObject({ field: 'main' });
    expect(
      await fieldOf(request512({ main: { rows: 16, cols: 16, tokens: new Array(256).fill(16_384) } })),
    ).toMatchObject({
      field: 'main',
    });
    expect(await fieldOf(request512({ steps: 0 }))).toMatchObject({ field: 'steps' });
    expect(await fieldOf(request512({ seed: -1 }))).toMatchObject({ field: 'seed' });
    expect(await fieldOf(request512({ guidanceScale: Number.NaN }))).toMatchObject({
      field: 'guidanceScale',
    });
  });
});

describe('Decoder noise', () => {
  it('turns the same seed into the same image and another seed into another image', async () => {
    const a = await decoder.render(request512({ seed: 100, steps: 2 }));
    const b = await decoder.render(request512({ seed: 100, steps: 2 }));
    const c = await decoder.render(request512({ seed: 101, steps: 2 }));
    expect(a.image.equals(b.image)).toBe(true);
    expect(a.image.equals(c.image)).toBe(false);
  });
});

describe('Decoder reference images', () => {
  const png = () =>
    sharp({ create: { width: 256, height: 256, channels: 3, background: '#2040d0' } })
      .png()
      .toBuffer();

  it('conditions on a reference: the same request without it renders another image', async () => {
    const image = await png();
    const tokens = splitLayout(16, 16, PANEL);
    const withReference = await decoder.render(request512({ steps: 2, references: [{ image, tokens }] }));
    const without = await decoder.render(request512({ steps: 2 }));
    expect(withReference.image.equals(without.image)).toBe(false);
    // A token grid of another size with the same aspect is upsampled like the plan's.
    const coarse = await decoder.render(
      request512({ steps: 2, references: [{ image, tokens: splitLayout(8, 8, PANEL) }] }),
    );
    expect(coarse.width).toBe(512);
  });

  it('takes renders asked for together in call order, with reference images or without', async () => {
    const image = await png();
    const tokens = splitLayout(16, 16, PANEL);
    const begun: string[] = [];
    const onStart = (name: string) => () => begun.push(name);
    const steps: Record<string, number[]> = { first: [], plain: [], second: [] };
    const onStep = (name: string) => (step: number, _total: number, denoiserMs: number) => {
      expect(denoiserMs).toBeGreaterThanOrEqual(0);
      steps[name]?.push(step);
    };
    // Each edit's reference decodes off the model thread first; the plain render must not overtake it.
    const [first, , second] = await Promise.all([
      decoder.render(request512({ steps: 2, references: [{ image, tokens }] }), {
        onStart: onStart('first'),
        onStep: onStep('first'),
      }),
      decoder.render(request512({ steps: 2 }), { onStart: onStart('plain'), onStep: onStep('plain') }),
      decoder.render(request512({ steps: 2, seed: 8, references: [{ image, tokens }] }), {
        onStart: onStart('second'),
        onStep: onStep('second'),
      }),
    ]);
    expect(begun).toEqual(['first', 'plain', 'second']);
    expect(steps).toEqual({ first: [1, 2], plain: [1, 2], second: [1, 2] });
    // The same reference bytes serve both edits; each still renders from its own noise.
    expect(first.image.equals(second.image)).toBe(false);
  });

  it('refuses references it cannot use, before any model runs', async () => {
    const image = await png();
    const fieldOf = (req: RenderRequest) => decoder.render(req).catch((e: unknown) => e);
    expect(
      await fieldOf(request512({ references: [{ image, tokens: splitLayout(16, 24, PANEL) }] })),
    ).toMatchObject({ field: 'references[0]' });
    expect(
      await fieldOf(
        request512({ references: [{ image: new Uint8Array(), tokens: splitLayout(16, 16, PANEL) }] }),
      ),
    ).toMatchObject({ field: 'references[0]' });
    const five = Array.from({ length: 5 }, () => ({ image, tokens: splitLayout(16, 16, PANEL) }));
    expect(await fieldOf(request512({ references: five }))).toMatchObject({ field: 'references' });

    const dir = await mkdtemp(join(tmpdir(), 'glm-text-only-'));
    try {
      await buildReferencePack(dir, { referenceImages: false });
      const textOnly = await Decoder.load(await loadModelPack(dir), {
        executionProvider: 'cpu',
        intraOpThreads: 1,
      });
      try {
        const refused = await textOnly
          .render(request512({ steps: 1, references: [{ image, tokens: splitLayout(16, 16, PANEL) }] }))
          .catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(UnsupportedFeatureError);
        expect((refused as Error).message).toContain('decoder.reference');
        // Without references it decodes as ever.
        expect((await textOnly.render(request512({ steps: 1 }))).width).toBe(512);
      } finally {
        await textOnly.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
