import { readFileSync } from 'node:fs';

/**
 * The reference pack's font: GNU Unifont, read at pack-build time from the `.hex` file
 * the Debian `unifont` package installs. Unifont has a 16-pixel-tall bitmap for nearly
 * every character of the Basic Multilingual Plane: Latin, Greek and Cyrillic 8 pixels
 * wide, CJK ideographs, kana and hangul 16 wide. The denoiser indexes the tables below
 * by code point, so any BMP character a prompt quotes can be drawn inside the graph.
 */
export const GLYPH_HEIGHT = 16;
/** Widest glyph; narrow glyphs use the left half of each 16-bit row. */
export const GLYPH_MAX_WIDTH = 16;
/** Code points covered: the Basic Multilingual Plane. */
export const CODE_POINTS = 0x10000;
/** Drawn for characters outside the BMP or outside the font. */
export const REPLACEMENT_CHARACTER = 0xfffd;

export const DEFAULT_UNIFONT_HEX = '/usr/share/unifont/unifont.hex';

export interface BitmapFont {
  /** `rows[cp * 16 + r]`: row r of cp's glyph, bit 15 the leftmost pixel. */
  rows: Uint16Array;
  /** Advance of each code point in pixels: 8, 16, or 0 for characters not drawn. */
  widths: Uint8Array;
}

/** Where the Unifont `.hex` file is: `UNIFONT_HEX` if set, else the Debian location. */
export function unifontPath(): string {
  return process.env.UNIFONT_HEX ?? DEFAULT_UNIFONT_HEX;
}

let cached: { path: string; font: BitmapFont } | undefined;

/** Loads (once per path) the font the reference denoiser draws with. */
export function loadBitmapFont(path = unifontPath()): BitmapFont {
  if (cached?.path === path) return cached.font;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(
      `the reference pack draws text with GNU Unifont, but ${path} cannot be read ` +
        `(${(error as Error).message}). Install the Debian package \`unifont\` ` +
        '(scripts/ensure-deps.sh does) or point UNIFONT_HEX at a unifont.hex file.',
    );
  }
  const font = parseUnifontHex(text);
  cached = { path, font };
  return font;
}

/**
 * Parses Unifont's `.hex` format: one `CODEPOINT:BITMAP` line per glyph, the bitmap 32
 * hex digits (8x16) or 64 (16x16), row by row. Characters the font lacks, and those
 * outside the BMP, get a hollow box; control and format characters take no room.
 */
export function parseUnifontHex(text: string): BitmapFont {
  const rows = new Uint16Array(CODE_POINTS * GLYPH_HEIGHT);
  const widths = new Uint8Array(CODE_POINTS);
  const present = new Uint8Array(CODE_POINTS);
  let glyphs = 0;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const cp = Number.parseInt(line.slice(0, colon), 16);
    const bitmap = line.slice(colon + 1).trim();
    if (!(cp >= 0 && cp < CODE_POINTS) || (bitmap.length !== 32 && bitmap.length !== 64)) continue;
    const digits = bitmap.length / GLYPH_HEIGHT; // 2 or 4 per row
    const width = digits * 4;
    for (let r = 0; r < GLYPH_HEIGHT; r += 1) {
      const bits = Number.parseInt(bitmap.slice(r * digits, (r + 1) * digits), 16);
      rows[cp * GLYPH_HEIGHT + r] = bits << (GLYPH_MAX_WIDTH - width);
    }
    widths[cp] = width;
    present[cp] = 1;
    glyphs += 1;
  }
  if (glyphs < 1000 || !present[0x41] || !present[0x4e2d]) {
    throw new Error(`not a Unifont .hex file: ${glyphs} glyphs, and Latin or CJK glyphs missing`);
  }
  drawPlainZero(rows);
  for (let cp = 0; cp < CODE_POINTS; cp += 1) {
    if (isNotDrawn(cp)) {
      widths[cp] = 0;
      rows.fill(0, cp * GLYPH_HEIGHT, (cp + 1) * GLYPH_HEIGHT);
    } else if (!present[cp]) {
      drawHollowBox(rows, cp);
      widths[cp] = GLYPH_MAX_WIDTH;
    }
  }
  return { rows, widths };
}

/** C0 and C1 controls, soft hyphen, zero-width and bidi formatting marks, surrogates. */
function isNotDrawn(cp: number): boolean {
  return (
    cp < 0x20 ||
    (cp >= 0x7f && cp < 0xa0) ||
    cp === 0xad ||
    (cp >= 0x200b && cp <= 0x200f) ||
    (cp >= 0x202a && cp <= 0x202e) ||
    (cp >= 0x2060 && cp <= 0x2064) ||
    (cp >= 0xd800 && cp <= 0xdfff) ||
    cp === 0xfeff
  );
}

/**
 * Unifont's zero is slashed, which OCR reads as ¢, @ or 9. An oval narrower at top and
 * bottom than the O keeps 0 and O distinct and reads as a digit.
 */
function drawPlainZero(rows: Uint16Array): void {
  const zero = [0, 0, 0, 0, 0x18, 0x24, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x24, 0x18, 0, 0];
  zero.forEach((bits, r) => {
    rows[0x30 * GLYPH_HEIGHT + r] = bits << 8;
  });
}

function drawHollowBox(rows: Uint16Array, cp: number): void {
  for (let r = 2; r < GLYPH_HEIGHT - 2; r += 1) {
    rows[cp * GLYPH_HEIGHT + r] = r === 2 || r === GLYPH_HEIGHT - 3 ? 0x7ffe : 0x4002;
  }
}

/** The glyph of `cp` as strings of `#` (ink) and `.`, for tests and debugging. */
export function glyphPicture(font: BitmapFont, cp: number): string[] {
  const width = font.widths[cp] ?? 0;
  return Array.from({ length: GLYPH_HEIGHT }, (_, r) => {
    const bits = font.rows[cp * GLYPH_HEIGHT + r] ?? 0;
    return Array.from({ length: width }, (_, c) => ((bits >> (15 - c)) & 1 ? '#' : '.')).join('');
  });
}
