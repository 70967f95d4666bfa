import { DType, GraphBuilder } from './graph-builder.ts';
import { upsampleNearest } from './preview-model.ts';
import { REFERENCE_MANIFEST } from './reference-manifest.ts';

/**
 * Channel layout of the reference latent space (raw, i.e. de-normalised). Each latent
 * cell covers 8x8 pixels: a base colour, an ink colour, and which of its 64 pixels are
 * ink, so that text is as sharp as the pixels themselves.
 */
export const LatentChannel = {
  /** Base colour, RGB in [-1,1]. */
  baseRgb: 0,
  /** Ink colour, RGB in [-1,1]. */
  inkRgb: 3,
  /**
   * Eight channels, one per pixel row of the cell: the row's ink as a binary fraction,
   * sum of 2^-(1+col) over inked columns, in units of the ink scale channel.
   */
  inkRows: 6,
  /**
   * 1 where the conditions were applied. Classifier-free guidance scales every channel
   * by the guidance factor; reading the rows relative to this one undoes that exactly.
   */
  inkScale: 14,
  /** Grain: the channels that carry seed-dependent texture, not content. */
  grain: 15,
} as const;

const SCALE = REFERENCE_MANIFEST.decoder.vaeScaleFactor;
/** Conv weights [rows, 1, 8, 8] packing an 8x8 ink block into its eight row codes. */
export const INK_ROW_WEIGHTS: Float32Array = (() => {
  const weights = new Float32Array(SCALE * SCALE * SCALE);
  for (let row = 0; row < SCALE; row += 1) {
    for (let col = 0; col < SCALE; col += 1) weights[(row * SCALE + row) * SCALE + col] = 2 ** -(1 + col);
  }
  return weights;
})();
/** Below this ink scale the latent carries no conditions (the unconditional target). */
const MIN_INK_SCALE = 1e-3;
/** Brightness texture per unit of grain: about ±4 of 255 levels, enough to tell seeds apart. */
const GRAIN_AMPLITUDE = 0.06;

/**
 * The VAE decoder: `latent_sample` float32 [B, 16, H/8, W/8] (raw latents) to `sample`
 * float32 [B, 3, H, W] in [-1,1]. Nearest-neighbour upsampling throughout, so edges
 * (and text) stay crisp.
 */
export function buildVaeDecoderModel(): Uint8Array {
  const g = new GraphBuilder('glm_image_reference_vae_decoder');
  const latent = g.input('latent_sample', DType.float, ['batch', 16, 'latent_height', 'latent_width']);
  const channels = (from: number, to: number) =>
    g.op('Slice', [latent, g.constInt64([from], [1]), g.constInt64([to], [1]), g.constInt64([1], [1])]);

  const base = upsampleNearest(g, channels(LatentChannel.baseRgb, LatentChannel.inkRgb), SCALE);
  const ink = upsampleNearest(g, channels(LatentChannel.inkRgb, LatentChannel.inkRows), SCALE);
  const mask = decodeInkRows(
    g,
    channels(LatentChannel.inkRows, LatentChannel.inkScale),
    channels(LatentChannel.inkScale, LatentChannel.grain),
  );

  const blended = g.op('Add', [base, g.op('Mul', [mask, g.op('Sub', [ink, base])])]);
  const grain = upsampleNearest(g, channels(LatentChannel.grain, LatentChannel.grain + 1), SCALE);
  const textured = g.op('Add', [blended, g.op('Mul', [grain, g.scalar(GRAIN_AMPLITUDE)])]);
  const sample = g.op('Clip', [textured, g.scalar(-1), g.scalar(1)]);
  g.output('sample', sample, DType.float, ['batch', 3, 'height', 'width']);
  return g.toBytes(17, 'GLM-Image reference pack: VAE decoder (latents to RGB).');
}

/** The [B,1,H,W] ink mask of the row codes [B,8,h,w], read relative to the ink scale [B,1,h,w]. */
function decodeInkRows(g: GraphBuilder, rows: string, scale: string): string {
  const applied = g.op('Greater', [scale, g.scalar(MIN_INK_SCALE)]);
  const safeScale = g.op('Where', [applied, scale, g.scalar(1)]);
  const levels = g.op('Round', [g.op('Mul', [g.op('Div', [rows, safeScale]), g.scalar(2 ** SCALE)])]);
  const codes = g.op('Where', [
    applied,
    g.op('Clip', [levels, g.scalar(0), g.scalar(2 ** SCALE - 1)]),
    g.scalar(0),
  ]);
  const bitValues = g.constFloat(
    Array.from({ length: SCALE }, (_, col) => 2 ** (SCALE - 1 - col)),
    [1, 1, SCALE, 1, 1],
    'bit_values',
  );
  const perColumn = g.op('Floor', [
    g.op('Div', [g.op('Unsqueeze', [codes, g.constInt64([2], [1])]), bitValues]),
  ]);
  const bits = g.op('Mod', [perColumn, g.scalar(2)], { fmod: 1 }); // [B,8 rows,8 cols,h,w]
  const shape = g.op('Shape', [rows]);
  const slice = (from: number, to: number) =>
    g.op('Slice', [shape, g.constInt64([from], [1]), g.constInt64([to], [1])]);
  const blockShape = g.op('Concat', [slice(0, 1), g.constInt64([SCALE * SCALE], [1]), slice(2, 4)], {
    axis: 0,
  });
  return g.op('DepthToSpace', [g.op('Reshape', [bits, blockShape])], { blocksize: SCALE, mode: 'DCR' });
}
