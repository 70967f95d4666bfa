import { describe, expect, it } from 'vitest';
import {
  buildGlyphAtlas,
  CELL_HEIGHT,
  CELL_WIDTH,
  GLYPH_HEIGHT,
  GLYPH_WIDTH,
  glyphRows,
} from './bitmap-font.ts';

const printable = Array.from({ length: 95 }, (_, i) => i + 32);

describe('bitmap font', () => {
  it('has a well-formed 5x7 glyph for every printable ASCII byte', () => {
    for (const byte of printable) {
      const rows = glyphRows(byte);
      expect(rows, String.fromCharCode(byte)).toHaveLength(GLYPH_HEIGHT);
      for (const row of rows!) expect(row).toMatch(new RegExp(`^[.#]{${GLYPH_WIDTH}}$`));
    }
    expect(glyphRows(31)).toBeUndefined();
    expect(glyphRows(127)).toBeUndefined();
  });

  it('gives every glyph but the space some ink, and no two glyphs the same shape', () => {
    const shapes = printable.map((b) => glyphRows(b)!.join(''));
    expect(new Set(shapes).size).toBe(shapes.length - 1); // '0' and 'O' share an oval
    for (const [i, shape] of shapes.entries()) expect(shape.includes('#')).toBe(i !== 0);
  });

  it('lays glyphs, boxes and blanks out in one atlas with spacing kept empty', () => {
    const atlas = buildGlyphAtlas();
    const cell = (byte: number) =>
      atlas.subarray(byte * CELL_HEIGHT * CELL_WIDTH, (byte + 1) * CELL_HEIGHT * CELL_WIDTH);
    expect(atlas.length).toBe(256 * CELL_HEIGHT * CELL_WIDTH);
    const h = cell(72);
    expect(Array.from(h.subarray(0, CELL_WIDTH))).toEqual([1, 0, 0, 0, 1, 0]);
    for (let byte = 0; byte < 256; byte += 1) {
      const c = cell(byte);
      for (let row = 0; row < CELL_HEIGHT; row += 1) expect(c[row * CELL_WIDTH + GLYPH_WIDTH]).toBe(0);
      for (let col = 0; col < CELL_WIDTH; col += 1) expect(c[GLYPH_HEIGHT * CELL_WIDTH + col]).toBe(0);
    }
    expect(cell(0xc3).reduce((a, b) => a + b, 0)).toBe(20); // hollow box for a UTF-8 lead byte
    expect(cell(0xa9).reduce((a, b) => a + b, 0)).toBe(0); // continuation bytes are blank
    expect(cell(9).reduce((a, b) => a + b, 0)).toBe(0);
  });
});
