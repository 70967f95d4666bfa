import { DType, GraphBuilder } from './graph-builder.ts';
import { CODEBOOK_SIZE, DETAIL_LEVELS, PALETTE, Region } from './semantic-codebook.ts';

/** Pixels per preview cell, as in the reference manifest's `preview.cellPixels`. */
const CELL = 8;
/** Shade range the planner's `detail` level applies to a cell's colour (±12%). */
const SHADE_SPAN = 0.24;
const PANEL_GREY = 0.85;
const PANEL_LINE_GREY = 0.45;

export interface DecodedTokens {
  /** Per-cell colour in [0,1], [B, rows, cols, 3]. */
  rgb: string;
  /** Per-cell region id, int64 [B, rows, cols]. */
  region: string;
  /** Text panel cells, bool [B, rows, cols]. */
  isPanel: string;
}

/**
 * Graph nodes turning semantic tokens (int64 [B, rows, cols]) into each cell's colour:
 * the palette colour, shaded by `detail` except on text panels, which stay flat so
 * that text drawn on them keeps its contrast. Shared by the preview and the denoiser.
 */
export function decodeTokenColours(g: GraphBuilder, tokens: string): DecodedTokens {
  const tok = g.op('Min', [g.op('Max', [tokens, g.scalarInt(0)]), g.scalarInt(CODEBOOK_SIZE - 1)]);
  const region = g.op('Div', [tok, g.scalarInt(DETAIL_LEVELS * PALETTE.length)]);
  const colour = g.op('Mod', [g.op('Div', [tok, g.scalarInt(DETAIL_LEVELS)]), g.scalarInt(PALETTE.length)]);
  const detail = g.op('Cast', [g.op('Mod', [tok, g.scalarInt(DETAIL_LEVELS)])], { to: DType.float });
  const palette = g.constFloat(
    PALETTE.flatMap((p) => p.rgb.map((v) => v / 255)),
    [PALETTE.length, 3],
    'palette',
  );
  const base = g.op('Gather', [palette, colour], { axis: 0 });
  const isPanel = g.op('Equal', [region, g.scalarInt(Region.textPanel)]);
  // shade = 1 + (detail / (levels-1) - 0.5) * span
  const shade = g.op('Add', [
    g.scalar(1 - SHADE_SPAN / 2),
    g.op('Mul', [detail, g.scalar(SHADE_SPAN / (DETAIL_LEVELS - 1))]),
  ]);
  const factor = g.op('Unsqueeze', [g.op('Where', [isPanel, g.scalar(1), shade]), g.constInt64([3], [1])]);
  const rgb = g.op('Clip', [g.op('Mul', [base, factor]), g.scalar(0), g.scalar(1)]);
  return { rgb, region, isPanel };
}

/** Nearest-neighbour upsampling of an NCHW tensor by an integer factor. */
export function upsampleNearest(g: GraphBuilder, x: string, factor: number): string {
  return g.op('Resize', [x, '', g.constFloat([1, 1, factor, factor], [4], 'scales')], {
    mode: 'nearest',
    coordinate_transformation_mode: 'asymmetric',
    nearest_mode: 'floor',
  });
}

/**
 * The preview model: `preview_token_id` int64 [B, ph, pw] to `image` float32
 * [B, 3, ph*8, pw*8] in [0,1]. Each cell is its token's colour; text panel cells are
 * light grey with a darker middle line hinting at text. A handful of ops, cheap on CPU.
 */
export function buildPreviewModel(): Uint8Array {
  const g = new GraphBuilder('glm_image_reference_preview');
  const tokens = g.input('preview_token_id', DType.int64, ['batch', 'preview_height', 'preview_width']);
  const { rgb, isPanel } = decodeTokenColours(g, tokens);
  const panelRgb = g.op('Where', [
    g.op('Unsqueeze', [isPanel, g.constInt64([3], [1])]),
    g.scalar(PANEL_GREY),
    rgb,
  ]);
  const cells = upsampleNearest(g, g.op('Transpose', [panelRgb], { perm: [0, 3, 1, 2] }), CELL);

  // One cell's text hint, tiled across the grid and kept only on panel cells.
  const hint = new Float32Array(CELL * CELL);
  for (let col = 1; col < CELL - 1; col += 1) {
    hint[(CELL / 2 - 1) * CELL + col] = 1;
    hint[(CELL / 2) * CELL + col] = 1;
  }
  const shape = g.op('Shape', [tokens]);
  const repeats = g.op(
    'Concat',
    [g.constInt64([1, 1], [2]), g.op('Slice', [shape, g.constInt64([1], [1]), g.constInt64([3], [1])])],
    {
      axis: 0,
    },
  );
  const hintTiled = g.op('Tile', [g.constFloat(hint, [1, 1, CELL, CELL], 'text_hint'), repeats]);
  const panelMask = upsampleNearest(
    g,
    g.op('Unsqueeze', [g.op('Cast', [isPanel], { to: DType.float }), g.constInt64([1], [1])]),
    CELL,
  );
  const line = g.op('Greater', [g.op('Mul', [hintTiled, panelMask]), g.scalar(0.5)]);
  const image = g.op('Where', [line, g.scalar(PANEL_LINE_GREY), cells]);
  g.output('image', image, DType.float, ['batch', 3, 'height', 'width']);
  return g.toBytes(17, 'GLM-Image reference pack: preview grid to a low-resolution image.');
}
