import { buildGlyphAtlas, CELL_HEIGHT, CELL_WIDTH, GLYPH_HEIGHT } from './bitmap-font.ts';
import { DType, GraphBuilder } from './graph-builder.ts';
import { decodeTokenColours, upsampleNearest } from './preview-model.ts';
import { LATENTS_MEAN, LATENTS_STD, REFERENCE_MANIFEST } from './reference-manifest.ts';
import { LatentChannel } from './vae-decoder-model.ts';

const { latentChannels, glyphs: GLYPHS } = REFERENCE_MANIFEST.decoder;
/** Ink is laid out on a grid of 4x4-pixel units: 4 units per 16-pixel prior cell. */
const UNITS_PER_PRIOR_CELL = 4;
/** ByT5 id closing a quoted span; drawn as a space between spans. */
const SPAN_END_ID = 1;
const SPACE = 32;
const FAR = 1e6;
const MIN_SIGMA = 1e-3;

/**
 * The reference denoiser. It does not learn anything: it computes the clean latent x0
 * the conditions call for (token colours, and the quoted text drawn on the text panel)
 * and returns the flow-matching velocity pointing from it to the sample,
 * `(sample - x0) / sigma`, so Euler steps land exactly on x0 when sigma reaches 0.
 * The unconditional branch (`prior_token_drop`) targets a neutral grey latent without
 * ink, which is what classifier-free guidance pushes away from. The grain channels keep
 * part of the initial noise, so another seed gives another (subtly textured) image.
 */
/** Fraction of the initial noise the grain channels keep in the clean latent. */
const GRAIN_KEEP = 0.5;

export function buildDenoiserModel(): Uint8Array {
  const g = new GraphBuilder('glm_image_reference_denoiser');
  const sample = g.input('sample', DType.float, ['batch', latentChannels, 'latent_height', 'latent_width']);
  const timestep = g.input('timestep', DType.float, ['batch']);
  const prior = g.input('prior_token_id', DType.int64, ['batch', 'prior_height', 'prior_width']);
  const drop = g.input('prior_token_drop', DType.bool, ['batch']);
  const glyphIds = g.input('glyph_ids', DType.int64, ['batch', 'glyph_length']);

  const { rgb, isPanel } = decodeTokenColours(g, prior);
  const base = g.op('Sub', [g.op('Mul', [rgb, g.scalar(2)]), g.scalar(1)]);
  // Dark ink on light cells, light ink on dark ones.
  const luma = g.op('MatMul', [rgb, g.constFloat([0.299, 0.587, 0.114], [3, 1], 'luma')]);
  const inkLevel = g.op('Where', [g.op('Greater', [luma, g.scalar(0.5)]), g.scalar(-1), g.scalar(1)]);
  const inkRgb = g.op('Expand', [inkLevel, g.constInt64([1, 1, 1, 3], [4])]);
  const cellColours = g.op('Transpose', [g.op('Concat', [base, inkRgb], { axis: 3 })], {
    perm: [0, 3, 1, 2],
  });
  const colours = upsampleNearest(g, cellColours, 2);
  const channels = (from: number, to: number) =>
    g.op('Slice', [colours, g.constInt64([from], [1]), g.constInt64([to], [1]), g.constInt64([1], [1])]);

  const coverage = renderGlyphCoverage(g, glyphIds, isPanel);
  const used = g.op('Concat', [channels(0, 3), coverage, channels(3, 6)], { axis: 1 });
  const grainCount = latentChannels - LatentChannel.grain;
  const raw = g.op('Pad', [used, g.constInt64([0, 0, 0, 0, 0, grainCount, 0, 0], [8])]);
  const dropped = g.op('Reshape', [drop, g.constInt64([-1, 1, 1, 1], [4])]);
  const target = g.op('Where', [dropped, g.scalar(0), raw]);

  const stats = (values: number[], hint: string) => g.constFloat(values, [1, latentChannels, 1, 1], hint);
  const x0 = g.op('Div', [g.op('Sub', [target, stats(LATENTS_MEAN, 'mean')]), stats(LATENTS_STD, 'std')]);
  const sigma = g.op('Max', [g.op('Div', [timestep, g.scalar(1000)]), g.scalar(MIN_SIGMA)]);
  const sigma4 = g.op('Reshape', [sigma, g.constInt64([-1, 1, 1, 1], [4])]);
  const towardsTarget = g.op('Div', [g.op('Sub', [sample, x0]), sigma4]);
  // Grain channels: their clean value is GRAIN_KEEP times the initial noise. Along the
  // flow x = noise * (k + sigma * (1 - k)), so the velocity noise - x0 is a function of
  // (x, sigma) alone and Euler steps land on k * noise at any step count: the seed's
  // noise shows in the image, as it does in a trained model.
  const keep = GRAIN_KEEP;
  const grainVelocity = g.op('Div', [
    g.op('Mul', [sample, g.scalar(1 - keep)]),
    g.op('Add', [g.scalar(keep), g.op('Mul', [sigma4, g.scalar(1 - keep)])]),
  ]);
  const grainChannel = g.constFloat(
    Array.from({ length: latentChannels }, (_, c) => (c >= LatentChannel.grain ? 1 : 0)),
    [1, latentChannels, 1, 1],
    'grain_channels',
  );
  const velocity = g.op('Add', [
    towardsTarget,
    g.op('Mul', [grainChannel, g.op('Sub', [grainVelocity, towardsTarget])]),
  ]);
  g.output('velocity', velocity, DType.float, ['batch', latentChannels, 'latent_height', 'latent_width']);
  return g.toBytes(17, 'GLM-Image reference pack: denoiser (flow velocity towards the conditioned latent).');
}

/**
 * Ink coverage [B, 4, H/8, W/8] of the glyph string drawn as one centred line on the
 * bounding box of the text panel cells. Works on a grid of 4x4-pixel units; a font
 * pixel is `s` units with `s` the largest integer scale that fits the line in the
 * panel (at least 1; characters past the panel's edge are dropped).
 */
function renderGlyphCoverage(g: GraphBuilder, glyphIds: string, isPanel: string): string {
  const f = (x: number) => g.scalar(x);
  const axes = (...a: number[]) => g.constInt64(a, [a.length]);
  const floorDiv = (a: string, b: string) => g.op('Floor', [g.op('Div', [a, b])]);

  // Panel bounding box in units, each [B,1,1]; empty panels give an inverted box.
  const shape = g.op('Shape', [isPanel]);
  const dimF = (i: number) => g.op('Cast', [g.op('Gather', [shape, g.scalarInt(i)])], { to: DType.float });
  const rowsF = g.op('Mul', [dimF(1), f(UNITS_PER_PRIOR_CELL)]);
  const colsF = g.op('Mul', [dimF(2), f(UNITS_PER_PRIOR_CELL)]);
  const cellStarts = (count: string, dims: number[]) =>
    g.op('Reshape', [g.op('Range', [f(0), count, f(UNITS_PER_PRIOR_CELL)]), g.constInt64(dims, [3])]);
  const rowStarts = cellStarts(rowsF, [1, -1, 1]);
  const colStarts = cellStarts(colsF, [1, 1, -1]);
  const extent = (starts: string) => {
    const lo = g.op('ReduceMin', [g.op('Where', [isPanel, starts, f(FAR)])], { axes: [1, 2], keepdims: 1 });
    const ends = g.op('Add', [starts, f(UNITS_PER_PRIOR_CELL)]);
    const hi = g.op('ReduceMax', [g.op('Where', [isPanel, ends, f(-FAR)])], { axes: [1, 2], keepdims: 1 });
    return { lo, size: g.op('Sub', [hi, lo]) };
  };
  const panelY = extent(rowStarts);
  const panelX = extent(colStarts);

  // Characters: bytes of the quoted spans, span ends as spaces (but not a trailing one),
  // pads and UTF-8 continuation bytes skipped. `slot` is each kept id's position.
  const bytes = g.op('Sub', [glyphIds, g.scalarInt(GLYPHS.byteOffset)]);
  const isByte = g.op('And', [
    g.op('Greater', [glyphIds, g.scalarInt(GLYPHS.byteOffset - 1)]),
    g.op('Less', [glyphIds, g.scalarInt(GLYPHS.byteOffset + 256)]),
  ]);
  const isContinuation = g.op('And', [
    g.op('Greater', [bytes, g.scalarInt(0x7f)]),
    g.op('Less', [bytes, g.scalarInt(0xc0)]),
  ]);
  const isContent = g.op('And', [isByte, g.op('Not', [isContinuation])]);
  const contentLater = g.op('CumSum', [g.op('Cast', [isContent], { to: DType.float }), g.scalarInt(1)], {
    exclusive: 1,
    reverse: 1,
  });
  const isSeparator = g.op('And', [
    g.op('Equal', [glyphIds, g.scalarInt(SPAN_END_ID)]),
    g.op('Greater', [contentLater, f(0)]),
  ]);
  const kept = g.op('Or', [isContent, isSeparator]);
  const keptF = g.op('Cast', [kept], { to: DType.float });
  const slot = g.op('Where', [kept, g.op('Sub', [g.op('CumSum', [keptF, g.scalarInt(1)]), f(1)]), f(-1)]);
  const charByte = g.op('Cast', [g.op('Where', [isContent, bytes, g.scalarInt(SPACE)])], { to: DType.float });
  const count = g.op('Reshape', [
    g.op('ReduceSum', [keptF, axes(1)], { keepdims: 1 }),
    g.constInt64([-1, 1, 1], [3]),
  ]);

  // Layout: scale, visible characters, top-left corner of the line (all [B,1,1]).
  const widthScale = floorDiv(panelX.size, g.op('Mul', [g.op('Max', [count, f(1)]), f(CELL_WIDTH)]));
  const heightScale = floorDiv(panelY.size, f(CELL_HEIGHT));
  const scale = g.op('Max', [g.op('Min', [widthScale, heightScale]), f(1)]);
  const cellUnits = g.op('Mul', [scale, f(CELL_WIDTH)]);
  const visible = g.op('Min', [count, floorDiv(panelX.size, cellUnits)]);
  const lineWidth = g.op('Sub', [g.op('Mul', [visible, cellUnits]), scale]);
  const left = g.op('Add', [panelX.lo, floorDiv(g.op('Sub', [panelX.size, lineWidth]), f(2))]);
  const glyphHeight = g.op('Mul', [scale, f(GLYPH_HEIGHT)]);
  const top = g.op('Add', [panelY.lo, floorDiv(g.op('Sub', [panelY.size, glyphHeight]), f(2))]);

  // Per column: which character, which font column. Per row: which font row.
  const unitRange = (count: string, dims: number[]) =>
    g.op('Reshape', [g.op('Range', [f(0), count, f(1)]), g.constInt64(dims, [3])]);
  const dx = g.op('Sub', [unitRange(colsF, [1, 1, -1]), left]);
  const charIndex = floorDiv(dx, cellUnits);
  const fontCol = g.op('Sub', [floorDiv(dx, scale), g.op('Mul', [charIndex, f(CELL_WIDTH)])]);
  const colValid = g.op('And', [g.op('Not', [g.op('Less', [dx, f(0)])]), g.op('Less', [charIndex, visible])]);
  const matches = g.op('Equal', [
    g.op('Transpose', [charIndex], { perm: [0, 2, 1] }),
    g.op('Unsqueeze', [slot, axes(1)]),
  ]);
  const columnByte = g.op('MatMul', [
    g.op('Cast', [matches], { to: DType.float }),
    g.op('Unsqueeze', [charByte, axes(2)]),
  ]);
  const columnCell = g.op('Add', [
    g.op('Mul', [g.op('Transpose', [columnByte], { perm: [0, 2, 1] }), f(CELL_HEIGHT * CELL_WIDTH)]),
    fontCol,
  ]);
  const fontRow = floorDiv(g.op('Sub', [unitRange(rowsF, [1, -1, 1]), top]), scale);
  const rowValid = g.op('And', [
    g.op('Not', [g.op('Less', [fontRow, f(0)])]),
    g.op('Less', [fontRow, f(CELL_HEIGHT)]),
  ]);

  const index = g.op('Add', [columnCell, g.op('Mul', [fontRow, f(CELL_WIDTH)])]);
  const valid = g.op('And', [rowValid, colValid]);
  const atlasIndex = g.op('Cast', [g.op('Where', [valid, index, f(0)])], { to: DType.int64 });
  const atlas = buildGlyphAtlas();
  const ink = g.op('Gather', [g.constFloat(atlas, [atlas.length], 'glyph_atlas'), atlasIndex], { axis: 0 });

  const panelF = g.op('Unsqueeze', [g.op('Cast', [isPanel], { to: DType.float }), axes(1)]);
  const onPanel = g.op('Mul', [
    g.op('Unsqueeze', [ink, axes(1)]),
    upsampleNearest(g, panelF, UNITS_PER_PRIOR_CELL),
  ]);
  return g.op('SpaceToDepth', [onPanel], { blocksize: 2 });
}
