import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { GLYPH_HEIGHT, glyphPicture, loadBitmapFont, REPLACEMENT_CHARACTER } from './bitmap-font.ts';
import { buildDenoiserModel } from './denoiser-model.ts';
import { encodeToken, PALETTE, Region } from './semantic-codebook.ts';
import { LatentChannel } from './vae-decoder-model.ts';

const WHITE = PALETTE.findIndex((p) => p.name === 'white');
const BLUE = PALETTE.findIndex((p) => p.name === 'blue');

/** A text panel in 16-pixel prior cells. */
interface Panel {
  top: number;
  left: number;
  rows: number;
  cols: number;
}

/**
 * The ink the denoiser targets, read back from its velocity: with a zero sample at
 * sigma 1, velocity = -x0, and the ink row channels have mean 0 and std 1. Returns one
 * 0/1 entry per pixel as a [H][W] grid.
 */
async function inkGrid(
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
  const at = (channel: number, y: number, x: number) => -v[(channel * h + y) * w + x]!;
  const grid = Array.from({ length: h * 8 }, () => new Array<number>(w * 8).fill(0));
  for (let y = 0; y < h; y += 1) {
    for (let x = 0; x < w; x += 1) {
      expect(at(LatentChannel.inkScale, y, x)).toBe(1);
      for (let row = 0; row < 8; row += 1) {
        const code = Math.round(at(LatentChannel.inkRows + row, y, x) * 256);
        for (let col = 0; col < 8; col += 1) grid[y * 8 + row]![x * 8 + col] = (code >> (7 - col)) & 1;
      }
    }
  }
  return grid;
}

const byT5 = (text: string) => [...new TextEncoder().encode(text)].map((b) => b + 3);
const inked = (grid: number[][]) => grid.flat().filter((v) => v === 1).length;
/** The inked part of a grid, cropped to its bounding box, as `#`/`.` strings. */
function inkPicture(grid: number[][]): string[] {
  const ys = grid.flatMap((row, y) => (row.includes(1) ? [y] : []));
  const xs = grid.flatMap((row) => row.flatMap((v, x) => (v === 1 ? [x] : [])));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  return grid.slice(Math.min(...ys), Math.max(...ys) + 1).map((row) =>
    row
      .slice(x0, x1 + 1)
      .map((v) => (v ? '#' : '.'))
      .join(''),
  );
}
/** A glyph's picture cropped to its ink, each pixel repeated `scale` times both ways. */
function scaledGlyph(cp: number, scale: number): string[] {
  const rows = glyphPicture(loadBitmapFont(), cp);
  const inkRows = rows.slice(
    rows.findIndex((r) => r.includes('#')),
    rows.findLastIndex((r) => r.includes('#')) + 1,
  );
  const cols = rows.flatMap((r) => [...r].flatMap((c, x) => (c === '#' ? [x] : [])));
  const [x0, x1] = [Math.min(...cols), Math.max(...cols)];
  return inkRows.flatMap((r) => {
    const line = [...r.slice(x0, x1 + 1)].map((c) => c.repeat(scale)).join('');
    return new Array<string>(scale).fill(line);
  });
}

const square = { width: 512, height: 512 };
/** 384x96 pixels: 6 font pixels of scale fit its height. */
const lowerBand: Panel = { top: 24, left: 4, rows: 6, cols: 24 };

describe('denoiser text layout', () => {
  let model: ort.InferenceSession;
  beforeAll(async () => {
    model = await ort.InferenceSession.create(buildDenoiserModel());
  });

  it('draws nothing without a text panel', async () => {
    expect(inked(await inkGrid(model, square, undefined, byT5('HELLO')))).toBe(0);
  });

  it('skips pads and a trailing span end, and turns span ends between spans into spaces', async () => {
    const plain = await inkGrid(model, square, lowerBand, byT5('AB CD'));
    const spans = await inkGrid(model, square, lowerBand, [
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
    const grid = await inkGrid(model, square, lowerBand, byT5('MIDDLE'));
    const xs = grid.flatMap((row) => row.flatMap((v, x) => (v ? [x] : [])));
    const [left, right] = [lowerBand.left * 16, (lowerBand.left + lowerBand.cols) * 16];
    const [top, bottom] = [lowerBand.top * 16, (lowerBand.top + lowerBand.rows) * 16];
    const ys = grid.flatMap((row, y) => (row.includes(1) ? [y] : []));
    expect(Math.min(...ys)).toBeGreaterThanOrEqual(top);
    expect(Math.max(...ys)).toBeLessThan(bottom);
    // Glyph boxes are centred; the ink of M..E sits one font pixel (6 px) in from each box.
    expect(Math.abs(Math.min(...xs) - left - (right - 1 - Math.max(...xs)))).toBeLessThanOrEqual(6);
    expect(grid[0]!.length).toBe(square.width);
  });

  it('draws each glyph of the font at an integer scale that fits the panel', async () => {
    // Height allows 96/16 = 6; the width (384 - 16 margin) allows 368/8 = 46.
    expect(inkPicture(await inkGrid(model, square, lowerBand, byT5('A')))).toEqual(scaledGlyph(0x41, 6));
    // 24 characters: 368 / (24 * 8) gives scale 1.
    const long = await inkGrid(model, square, lowerBand, byT5('W'.repeat(24)));
    expect(inkPicture(long)[0]!.length).toBe(23 * 8 + 6);
  });

  it('decodes UTF-8 and draws CJK, kana and hangul 16 pixels wide', async () => {
    for (const ch of ['中', 'あ', '한', 'é']) {
      const picture = inkPicture(await inkGrid(model, square, lowerBand, byT5(ch)));
      expect(picture, ch).toEqual(scaledGlyph(ch.codePointAt(0)!, 6));
    }
    // Two wide characters need the room of four narrow ones.
    const wide = inkPicture(
      await inkGrid(model, { width: 1024, height: 512 }, lowerBand, byT5('新年'.repeat(6))),
    );
    const narrow = inkPicture(
      await inkGrid(model, { width: 1024, height: 512 }, lowerBand, byT5('HHHH'.repeat(6))),
    );
    expect(Math.abs(wide[0]!.length - narrow[0]!.length)).toBeLessThanOrEqual(16);
  });

  it('draws a replacement character beyond the BMP and nothing for control bytes', async () => {
    expect(inked(await inkGrid(model, square, lowerBand, byT5('\t\n')))).toBe(0);
    const emoji = inkPicture(await inkGrid(model, square, lowerBand, byT5('😀')));
    expect(emoji).toEqual(scaledGlyph(REPLACEMENT_CHARACTER, 6));
  });

  it('drops characters that do not fit rather than overflowing the panel', async () => {
    const small: Panel = { top: 10, left: 10, rows: 2, cols: 3 };
    const grid = await inkGrid(model, square, small, byT5('W'.repeat(200)));
    expect(inked(grid)).toBeGreaterThan(0);
    const outside = grid.flatMap((row, y) =>
      row.filter((v, x) => v !== 0 && !(y >= 160 && y < 192 && x >= 160 && x < 208)),
    );
    expect(outside).toEqual([]);
    // The height would allow scale 2, the width only 1: the 10 font rows of W, at scale 1.
    expect(inkPicture(grid).length).toBe(10);
  });

  it('handles the largest size with a full-length glyph input', async () => {
    const size = { width: 2048, height: 1024 };
    const grid = await inkGrid(model, size, { top: 50, left: 8, rows: 10, cols: 112 }, byT5('x'.repeat(256)));
    expect(grid.length).toBe(1024);
    expect(grid[0]!.length).toBe(2048);
    expect(inked(grid)).toBeGreaterThan(0);
    expect(GLYPH_HEIGHT).toBe(16);
  });
});
