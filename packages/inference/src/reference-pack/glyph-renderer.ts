import {
  CODE_POINTS,
  GLYPH_HEIGHT,
  GLYPH_MAX_WIDTH,
  loadBitmapFont,
  REPLACEMENT_CHARACTER,
} from './bitmap-font.ts';
import { DType, type GraphBuilder } from './graph-builder.ts';
import { upsampleNearest } from './preview-model.ts';
import { REFERENCE_MANIFEST } from './reference-manifest.ts';

const { glyphs: GLYPHS, priorPatch: PRIOR_CELL_PIXELS } = REFERENCE_MANIFEST.decoder;
/** ByT5 id closing a quoted span; drawn as a space between spans. */
const SPAN_END_ID = 1;
const SPACE = 0x20;
const FAR = 1e6;
/** Pixels kept clear at the panel's left and right when a long line fills it. */
const PANEL_MARGIN = 8;

/**
 * Graph nodes drawing the quoted text: ink [B, 1, H, W] (1 for ink) of the glyph ids
 * decoded as UTF-8 and laid out as one centred line in the bounding box of the text
 * panel cells (`isPanel`, bool [B, H/16, W/16]). Glyphs come from the Unifont tables,
 * indexed by code point, and are scaled by the largest integer factor that fits the
 * line in the panel (at least 1; characters past the panel's edge are dropped).
 */
export function renderGlyphInk(g: GraphBuilder, glyphIds: string, isPanel: string): string {
  const f = (x: number) => g.scalar(x);
  const axes = (...a: number[]) => g.constInt64(a, [a.length]);
  const floorDiv = (a: string, b: string) => g.op('Floor', [g.op('Div', [a, b])]);
  const and = (...xs: string[]) => xs.reduce((a, b) => g.op('And', [a, b]));
  const between = (x: string, lo: number, hi: number) =>
    and(g.op('GreaterOrEqual', [x, f(lo)]), g.op('Less', [x, f(hi)]));
  const toFloat = (x: string) => g.op('Cast', [x], { to: DType.float });

  // Panel bounding box in pixels, each [B,1,1]; empty panels give an inverted box.
  const shape = g.op('Shape', [isPanel]);
  const dimF = (i: number) => toFloat(g.op('Gather', [shape, g.scalarInt(i)]));
  const heightF = g.op('Mul', [dimF(1), f(PRIOR_CELL_PIXELS)]);
  const widthF = g.op('Mul', [dimF(2), f(PRIOR_CELL_PIXELS)]);
  const cellStarts = (count: string, dims: number[]) =>
    g.op('Reshape', [g.op('Range', [f(0), count, f(PRIOR_CELL_PIXELS)]), g.constInt64(dims, [3])]);
  const extent = (starts: string) => {
    const lo = g.op('ReduceMin', [g.op('Where', [isPanel, starts, f(FAR)])], { axes: [1, 2], keepdims: 1 });
    const ends = g.op('Add', [starts, f(PRIOR_CELL_PIXELS)]);
    const hi = g.op('ReduceMax', [g.op('Where', [isPanel, ends, f(-FAR)])], { axes: [1, 2], keepdims: 1 });
    return { lo, size: g.op('Sub', [hi, lo]) };
  };
  const panelY = extent(cellStarts(heightF, [1, -1, 1]));
  const panelX = extent(cellStarts(widthF, [1, 1, -1]));

  // UTF-8 decoding: every lead byte becomes its code point (BMP, else U+FFFD), span ends
  // between spans become spaces, pads, continuation bytes and a trailing span end vanish.
  const byteAt = (k: number) => {
    const bytes = toFloat(g.op('Sub', [glyphIds, g.scalarInt(GLYPHS.byteOffset)]));
    const isByte = between(toFloat(glyphIds), GLYPHS.byteOffset, GLYPHS.byteOffset + 256);
    const valid = g.op('Where', [isByte, bytes, f(-1)]);
    if (k === 0) return valid;
    const padded = g.op('Pad', [valid, axes(0, 0, 0, k), f(-1)]);
    return g.op('Slice', [padded, axes(k), axes(Number.MAX_SAFE_INTEGER), axes(1)]);
  };
  const [b0, b1, b2] = [byteAt(0), byteAt(1), byteAt(2)];
  const isContinuation = (b: string) => between(b, 0x80, 0xc0);
  const payload = (b: string) => g.op('Sub', [b, f(0x80)]);
  const twoByte = and(between(b0, 0xc0, 0xe0), isContinuation(b1));
  const threeByte = and(between(b0, 0xe0, 0xf0), isContinuation(b1), isContinuation(b2));
  const cp2 = g.op('Add', [g.op('Mul', [g.op('Sub', [b0, f(0xc0)]), f(64)]), payload(b1)]);
  const cp3 = g.op('Add', [
    g.op('Add', [g.op('Mul', [g.op('Sub', [b0, f(0xe0)]), f(4096)]), g.op('Mul', [payload(b1), f(64)])]),
    payload(b2),
  ]);
  const decoded = g.op('Where', [
    between(b0, 0, 0x80),
    b0,
    g.op('Where', [twoByte, cp2, g.op('Where', [threeByte, cp3, f(REPLACEMENT_CHARACTER)])]),
  ]);
  const isContent = and(g.op('Not', [g.op('Less', [b0, f(0)])]), g.op('Not', [isContinuation(b0)]));
  const contentLater = g.op('CumSum', [toFloat(isContent), g.scalarInt(1)], { exclusive: 1, reverse: 1 });
  const isSeparator = and(
    g.op('Equal', [glyphIds, g.scalarInt(SPAN_END_ID)]),
    g.op('Greater', [contentLater, f(0)]),
  );
  const codePoint = g.op('Where', [isContent, decoded, g.op('Where', [isSeparator, f(SPACE), f(0)])]);
  const codeIndex = g.op('Cast', [g.op('Clip', [codePoint, f(0), f(CODE_POINTS - 1)])], { to: DType.int64 });

  // Advances (0 for everything not drawn) and the x of each character, in font pixels.
  const font = loadBitmapFont();
  const widthTable = g.constFloat(font.widths, [CODE_POINTS], 'glyph_widths');
  const advance = g.op('Gather', [widthTable, codeIndex], { axis: 0 }); // [B,L]
  const start = g.op('CumSum', [advance, g.scalarInt(1)], { exclusive: 1 });
  const end = g.op('Add', [start, advance]);
  const toBatch3 = (x: string) => g.op('Reshape', [x, g.constInt64([-1, 1, 1], [3])]);
  const lineWidth = toBatch3(g.op('ReduceSum', [advance, axes(1)], { keepdims: 1 }));

  // Scale, visible characters and the line's top-left corner (all [B,1,1]).
  const usableWidth = g.op('Sub', [panelX.size, f(2 * PANEL_MARGIN)]);
  const widthScale = floorDiv(usableWidth, g.op('Max', [lineWidth, f(1)]));
  const heightScale = floorDiv(panelY.size, f(GLYPH_HEIGHT));
  const scale = g.op('Max', [g.op('Min', [widthScale, heightScale]), f(1)]);
  const scale2 = g.op('Reshape', [scale, g.constInt64([-1, 1], [2])]);
  const visible = g.op('Not', [
    g.op('Greater', [g.op('Mul', [end, scale2]), g.op('Reshape', [usableWidth, g.constInt64([-1, 1], [2])])]),
  ]);
  const shownAdvance = g.op('Mul', [advance, toFloat(visible)]);
  const shownWidth = toBatch3(g.op('ReduceSum', [shownAdvance, axes(1)], { keepdims: 1 }));
  const left = g.op('Add', [
    panelX.lo,
    floorDiv(g.op('Sub', [panelX.size, g.op('Mul', [shownWidth, scale])]), f(2)),
  ]);
  const glyphHeight = g.op('Mul', [scale, f(GLYPH_HEIGHT)]);
  const top = g.op('Add', [panelY.lo, floorDiv(g.op('Sub', [panelY.size, glyphHeight]), f(2))]);

  // Per pixel column: which character covers it and which column of its glyph.
  const pixelRange = (count: string, dims: number[]) =>
    g.op('Reshape', [g.op('Range', [f(0), count, f(1)]), g.constInt64(dims, [3])]);
  const dx = g.op('Sub', [pixelRange(widthF, [1, 1, -1]), left]);
  const lineX = g.op('Transpose', [floorDiv(dx, scale)], { perm: [0, 2, 1] }); // [B,W,1]
  const perChar = (x: string) => g.op('Unsqueeze', [x, axes(1)]); // [B,1,L]
  const covers = and(
    g.op('Not', [g.op('Less', [lineX, perChar(start)])]),
    g.op('Less', [lineX, perChar(end)]),
    perChar(visible),
  ); // [B,W,L]: at most one character per column
  const coversF = toFloat(covers);
  const pick = (x: string) =>
    g.op('Transpose', [g.op('MatMul', [coversF, g.op('Unsqueeze', [x, axes(2)])])], { perm: [0, 2, 1] });
  const columnCode = pick(g.op('Cast', [codeIndex], { to: DType.float })); // [B,1,W]
  const glyphCol = g.op('Sub', [g.op('Transpose', [lineX], { perm: [0, 2, 1] }), pick(start)]);
  const columnInked = g.op('Greater', [g.op('ReduceSum', [coversF, axes(2)], { keepdims: 1 }), f(0.5)]);
  const bitValue = g.op('Gather', [
    g.constFloat(
      Array.from({ length: GLYPH_MAX_WIDTH }, (_, c) => 2 ** (GLYPH_MAX_WIDTH - 1 - c)),
      [GLYPH_MAX_WIDTH],
      'bit_values',
    ),
    g.op('Cast', [g.op('Clip', [glyphCol, f(0), f(GLYPH_MAX_WIDTH - 1)])], { to: DType.int64 }),
  ]);

  // Per pixel row: which row of the glyph. Then each pixel's bit of its glyph row.
  const glyphRow = floorDiv(g.op('Sub', [pixelRange(heightF, [1, -1, 1]), top]), scale); // [B,H,1]
  const rowInked = between(glyphRow, 0, GLYPH_HEIGHT);
  const inked = and(rowInked, g.op('Transpose', [columnInked], { perm: [0, 2, 1] }));
  const rowIndex = g.op('Add', [g.op('Mul', [columnCode, f(GLYPH_HEIGHT)]), glyphRow]);
  const safeIndex = g.op('Cast', [g.op('Where', [inked, rowIndex, f(0)])], { to: DType.int64 });
  const rowsTable = g.constUint16(font.rows, [font.rows.length], 'glyph_rows');
  const rowBits = toFloat(g.op('Gather', [rowsTable, safeIndex], { axis: 0 })); // [B,H,W]
  const bit = g.op('Mod', [floorDiv(rowBits, bitValue), f(2)], { fmod: 1 });
  const ink = g.op('Where', [inked, bit, f(0)]);

  const panelF = g.op('Unsqueeze', [toFloat(isPanel), axes(1)]);
  return g.op('Mul', [g.op('Unsqueeze', [ink, axes(1)]), upsampleNearest(g, panelF, PRIOR_CELL_PIXELS)]);
}
