import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Planner } from '../planner/planner.ts';
import { buildTestPacks, readTextLine, type TestPacks } from '../testing/decoder-test-packs.ts';
import { Decoder } from './decoder.ts';

const PROMPT = 'a red circle on a blue background with a sign that says "OPEN"';

let packs: TestPacks;
let planner: Planner;
let decoder: Decoder;

beforeAll(async () => {
  packs = await buildTestPacks();
  [planner, decoder] = await Promise.all([Planner.load(packs.reference), Decoder.load(packs.reference)]);
});

afterAll(async () => {
  await Promise.allSettled([planner?.close(), decoder?.close()]);
  await packs?.remove();
});

async function generate(seed: number): Promise<Buffer> {
  const plan = await planner.plan({ prompt: PROMPT, width: 512, height: 512, seed });
  const result = await decoder.render({
    prompt: PROMPT,
    main: plan.main,
    width: 512,
    height: 512,
    seed,
    steps: 6,
  });
  return result.image;
}

type Rgb = [number, number, number];
const isRed = ([r, g, b]: Rgb) => r > 180 && g < 80 && b < 80;
const isBlue = ([r, g, b]: Rgb) => b > 180 && r < 80 && g < 100;
const isWhite = ([r, g, b]: Rgb) => r > 200 && g > 200 && b > 200;

describe('planner tokens through the decoder', () => {
  it('draws the planned colours and the quoted text, and follows the seed', async () => {
    const png = await generate(3);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const pixelAt = (x: number, y: number): Rgb => {
      const i = (y * info.width + x) * info.channels;
      return [data[i] as number, data[i + 1] as number, data[i + 2] as number];
    };
    let red = 0;
    let blue = 0;
    // Bounding box of the white sign's pixels.
    let [left, top, right, bottom] = [info.width, info.height, -1, -1];
    for (let y = 0; y < info.height; y += 1) {
      for (let x = 0; x < info.width; x += 1) {
        const p = pixelAt(x, y);
        if (isRed(p)) red += 1;
        if (isBlue(p)) blue += 1;
        if (isWhite(p))
          [left, top, right, bottom] = [
            Math.min(left, x),
            Math.min(top, y),
            Math.max(right, x),
            Math.max(bottom, y),
          ];
      }
    }
    const total = info.width * info.height;
    expect(blue / total).toBeGreaterThan(0.3); // the background
    expect(red / total).toBeGreaterThan(0.03); // the circle
    expect(isBlue(pixelAt(4, 4))).toBe(true); // a corner is background

    expect(right).toBeGreaterThan(left);
    const sign = { left, top, width: right - left + 1, height: bottom - top + 1 };
    expect(await readTextLine(png, sign)).toBe('OPEN');

    expect((await generate(3)).equals(png)).toBe(true);
    expect((await generate(4)).equals(png)).toBe(false);
  });
});
