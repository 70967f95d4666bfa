import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../errors.ts';
import { encodeToken, Region } from '../reference-pack/semantic-codebook.ts';
import { buildTestPacks, colourIndex, type TestPacks } from '../testing/decoder-test-packs.ts';
import { PreviewRenderer } from './preview-renderer.ts';

let packs: TestPacks;
let renderer: PreviewRenderer | null;

beforeAll(async () => {
  packs = await buildTestPacks();
  renderer = await PreviewRenderer.load(packs.reference);
});

afterAll(async () => {
  await renderer?.close();
  await packs?.remove();
});

/** Preview grid: top half green, bottom half yellow. */
function halves(rows: number, cols: number): { rows: number; cols: number; tokens: number[] } {
  const tokens: number[] = [];
  for (let r = 0; r < rows; r += 1) {
    for (let c = 0; c < cols; c += 1) {
      tokens.push(encodeToken(Region.background, colourIndex(r < rows / 2 ? 'green' : 'yellow'), 128));
    }
  }
  return { rows, cols, tokens };
}

async function pixel(png: Buffer, x: number, y: number): Promise<number[]> {
  const { data } = await sharp(png)
    .extract({ left: x, top: y, width: 1, height: 1 })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return Array.from(data.subarray(0, 3));
}

describe('PreviewRenderer', () => {
  it('renders the preview grid as a PNG of cellPixels per token, in the tokens colours', async () => {
    if (!renderer) throw new Error('the reference pack has a preview model');
    const cell = packs.reference.manifest.preview?.cellPixels ?? 0;
    const { image, width, height } = await renderer.render(halves(16, 16));
    expect({ width, height }).toEqual({ width: 16 * cell, height: 16 * cell });
    expect(await sharp(image).metadata()).toMatchObject({
      format: 'png',
      width: 16 * cell,
      height: 16 * cell,
    });
    const [tr, tg, tb] = await pixel(image, 10, 10); // green
    expect(tg as number).toBeGreaterThan(Math.max(tr as number, tb as number) + 60);
    const [br, bg, bb] = await pixel(image, 10, height - 10); // yellow
    expect(Math.min(br as number, bg as number)).toBeGreaterThan((bb as number) + 100);
  });

  it('renders a non-square preview grid', async () => {
    const cell = packs.reference.manifest.preview?.cellPixels ?? 0;
    const result = await renderer?.render(halves(13, 19));
    expect(result).toMatchObject({ width: 19 * cell, height: 13 * cell });
  });

  it('rejects a grid whose tokens do not match its size', async () => {
    await expect(renderer?.render({ rows: 2, cols: 2, tokens: [1, 2, 3] })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
  });

  it('is null for a pack without a preview model', async () => {
    expect(await PreviewRenderer.load(packs.noPreview)).toBeNull();
  });
});
