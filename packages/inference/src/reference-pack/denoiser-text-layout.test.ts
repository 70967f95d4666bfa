import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDenoiserModel } from './denoiser-model.ts';
import { encodeToken, PALETTE, Region } from './semantic-codebook.ts';

const WHITE = PALETTE.findIndex((p) => p.name === 'white');
const BLUE = PALETTE.findIndex((p) => p.name === 'blue');

interface Panel {
  top: number;
  left: number;
  rows: number;
  cols: number;
}

/**
 * Ink coverage the denoiser targets, read back from its velocity: with a zero sample
 * at sigma 1, velocity = -x0, and the coverage channels have mean 0 and std 1.
 * Returns coverage of the 4x4-pixel units as a [H/4][W/4] grid.
 */
async function coverage(
  model: ort.InferenceSession,
  size: { width: number; height: number },
  panel: Panel | undefined,
  ids: number[],
): Promise<number[][]> {
  const [hp, wp] = [size.height / 16, size.width / 16];
  const [h, w] = [hp * 2, wp * 2];
  const prior = new BigInt64Array(hp * wp).fill(BigInt(encodeToken(Region.background, BLUE, 0)));
  if (panel) {
    for (let r = panel.top; r < panel.top + panel.rows; r += 1) {
      for (let c = panel.left; c < panel.left + panel.cols; c += 1)
        prior[r * wp + c] = BigInt(encodeToken(Region.textPanel, WHITE, 9));
    }
  }
  const out = await model.run({
    sample: new ort.Tensor('float32', new Float32Array(16 * h * w), [1, 16, h, w]),
    timestep: new ort.Tensor('float32', Float32Array.from([1000]), [1]),
    prior_token_id: new ort.Tensor('int64', prior, [1, hp, wp]),
    prior_token_drop: new ort.Tensor('bool', Uint8Array.from([0]), [1]),
    glyph_ids: new ort.Tensor(
      'int64',
      BigInt64Array.from(ids, (v) => BigInt(v)),
      [1, ids.length],
    ),
  });
  const v = out.velocity!.data as Float32Array;
  const grid = Array.from({ length: h * 2 }, () => new Array<number>(w * 2).fill(0));
  for (let sub = 0; sub < 4; sub += 1) {
    for (let y = 0; y < h; y += 1) {
      for (let x = 0; x < w; x += 1)
        grid[y * 2 + (sub >> 1)]![x * 2 + (sub & 1)] = -v[((3 + sub) * h + y) * w + x]!;
    }
  }
  return grid;
}

const byT5 = (text: string) => [...new TextEncoder().encode(text)].map((b) => b + 3);
const inked = (grid: number[][]) => grid.flat().filter((v) => v > 0.5).length;
const square = { width: 512, height: 512 };
const lowerBand: Panel = { top: 24, left: 4, rows: 6, cols: 24 };

describe('denoiser text layout', () => {
  let model: ort.InferenceSession;
  beforeAll(async () => {
    model = await ort.InferenceSession.create(buildDenoiserModel());
  });

  it('draws nothing without a text panel', async () => {
    expect(inked(await coverage(model, square, undefined, byT5('HELLO')))).toBe(0);
  });

  it('skips pads and a trailing span end, and turns span ends between spans into spaces', async () => {
    const plain = await coverage(model, square, lowerBand, byT5('AB CD'));
    const spans = await coverage(model, square, lowerBand, [
      ...byT5('AB'),
      1,
      0,
      0,
      ...byT5('CD'),
      1,
      0,
      0,
      0,
    ]);
    expect(inked(plain)).toBeGreaterThan(0);
    expect(spans).toEqual(plain);
  });

  it('centres the line and keeps every stroke inside the panel', async () => {
    const grid = await coverage(model, square, lowerBand, byT5('MIDDLE'));
    const cols = grid[0]!.length;
    const xs = grid.flatMap((row) => row.flatMap((v, x) => (v > 0.5 ? [x] : [])));
    const ys = grid.flatMap((row, y) => (row.some((v) => v > 0.5) ? [y] : []));
    const [top, bottom] = [lowerBand.top * 4, (lowerBand.top + lowerBand.rows) * 4];
    const [left, right] = [lowerBand.left * 4, (lowerBand.left + lowerBand.cols) * 4];
    expect(Math.min(...ys)).toBeGreaterThanOrEqual(top);
    expect(Math.max(...ys)).toBeLessThan(bottom);
    expect(Math.abs(Math.min(...xs) - left - (right - 1 - Math.max(...xs)))).toBeLessThanOrEqual(1);
    expect(Math.abs(Math.min(...ys) - top - (bottom - 1 - Math.max(...ys)))).toBeLessThanOrEqual(1);
    expect(cols).toBe(square.width / 4);
  });

  it('drops characters that do not fit rather than overflowing the panel', async () => {
    const small: Panel = { top: 10, left: 10, rows: 2, cols: 3 };
    const grid = await coverage(model, square, small, byT5('W'.repeat(200)));
    expect(inked(grid)).toBeGreaterThan(0);
    const outside = grid.flatMap((row, y) =>
      row.filter((v, x) => v !== 0 && !(y >= 40 && y < 48 && x >= 40 && x < 52)),
    );
    expect(outside).toEqual([]);
  });

  it('draws a box per non-ASCII character and nothing for control bytes', async () => {
    expect(inked(await coverage(model, square, lowerBand, byT5('\t\n')))).toBe(0);
    const one = inked(await coverage(model, square, lowerBand, byT5('é')));
    const two = inked(await coverage(model, square, lowerBand, byT5('é中')));
    // A 5x7 outline is 20 font pixels; the panel is 24 units tall, so the scale is 3.
    expect(one).toBe(20 * 3 * 3);
    expect(two).toBe(2 * one);
  });

  it('handles the largest size with a full-length glyph input', async () => {
    const size = { width: 2048, height: 1024 };
    const grid = await coverage(
      model,
      size,
      { top: 50, left: 8, rows: 10, cols: 112 },
      byT5('x'.repeat(256)),
    );
    expect(grid.length).toBe(256);
    expect(grid[0]!.length).toBe(512);
    expect(inked(grid)).toBeGreaterThan(0);
  });
});
