import { DType, GraphBuilder } from './graph-builder.ts';
import { REFERENCE_MANIFEST } from './reference-manifest.ts';
import { DETAIL_LEVELS, PALETTE, Region } from './semantic-codebook.ts';

const PATCH = REFERENCE_MANIFEST.planner.grid.mainPatch;
/** Side of the blocks that vote on a patch's colour: 4x4 of them per 32-pixel patch. */
const BLOCK = 8;
/** The shading level every tokenized cell gets; the decoder and planner read region and colour only. */
const MID_DETAIL = Math.floor(DETAIL_LEVELS / 2);

/**
 * The reference image tokenizer: `pixel_values` float32 [B, 3, H, W] (RGB in [0, 1]) to
 * `image_token_ids` int64 [B, H/32, W/32], the codebook's reading of the image, one token
 * per main-grid cell, the inverse of what the planner writes:
 *
 * - each 8x8 block takes its nearest palette colour, and the blocks of a 32x32 patch vote
 *   on the patch's colour (so an edge patch takes the colour covering most of it rather
 *   than a mix of both, which would be a third colour);
 * - the colour covering most patches is the background; every other patch is a shape.
 *
 * Text panels are not told apart: a reference's text reads as whatever colour its panel has.
 */
export function buildImageTokenizerModel(): Uint8Array {
  const g = new GraphBuilder('glm_image_reference_image_tokenizer');
  const i64 = (values: number[]) => g.constInt64(values, [values.length]);
  const pixels = g.input('pixel_values', DType.float, ['batch', 3, 'height', 'width']);

  const blocks = g.op('AveragePool', [pixels], { kernel_shape: [BLOCK, BLOCK], strides: [BLOCK, BLOCK] });
  // Squared distance to each palette colour: |x|^2 - 2 x.p + |p|^2, [B, 16, H/8, W/8].
  const palette = PALETTE.map((p) => p.rgb.map((v) => v / 255));
  const dot = g.op('Conv', [
    blocks,
    g.constFloat(
      palette.flatMap((rgb) => rgb.map((v) => -2 * v)),
      [PALETTE.length, 3, 1, 1],
      'palette_weights',
    ),
    g.constFloat(
      palette.map((rgb) => rgb.reduce((sum, v) => sum + v * v, 0)),
      [PALETTE.length],
      'palette_norms',
    ),
  ]);
  const norm = g.op('ReduceSum', [g.op('Mul', [blocks, blocks]), i64([1])], { keepdims: 1 });
  const distance = g.op('Add', [dot, norm]);
  const nearest = g.op('ArgMin', [distance], { axis: 1, keepdims: 1 }); // [B,1,h8,w8]
  const colours = g.constInt64(
    Array.from(PALETTE, (_, i) => i),
    [1, PALETTE.length, 1, 1],
  );
  const blockVotes = g.op('Cast', [g.op('Equal', [nearest, colours])], { to: DType.float });
  const patchVotes = g.op('AveragePool', [blockVotes], {
    kernel_shape: [PATCH / BLOCK, PATCH / BLOCK],
    strides: [PATCH / BLOCK, PATCH / BLOCK],
  }); // [B,16,H/32,W/32]
  const patchColour = g.op('ArgMax', [patchVotes], { axis: 1, keepdims: 1, select_last_index: 0 });

  const patchOneHot = g.op('Cast', [g.op('Equal', [patchColour, colours])], { to: DType.float });
  const coverage = g.op('ReduceSum', [patchOneHot, i64([2, 3])], { keepdims: 1 }); // [B,16,1,1]
  const background = g.op('ArgMax', [coverage], { axis: 1, keepdims: 1, select_last_index: 0 });
  const region = g.op('Where', [
    g.op('Equal', [patchColour, background]),
    g.scalarInt(Region.background),
    g.scalarInt(Region.shape),
  ]);
  // token = (region * |palette| + colour) * levels + detail
  const token = g.op('Add', [
    g.op('Mul', [
      g.op('Add', [g.op('Mul', [region, g.scalarInt(PALETTE.length)]), patchColour]),
      g.scalarInt(DETAIL_LEVELS),
    ]),
    g.scalarInt(MID_DETAIL),
  ]);
  const ids = g.op('Squeeze', [token, i64([1])]);
  g.output('image_token_ids', ids, DType.int64, ['batch', 'token_height', 'token_width']);
  return g.toBytes(17, 'GLM-Image reference pack: reference image to semantic tokens.');
}
