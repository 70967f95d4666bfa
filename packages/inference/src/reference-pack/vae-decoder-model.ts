import { DType, GraphBuilder } from './graph-builder.ts';
import { upsampleNearest } from './preview-model.ts';
import { REFERENCE_MANIFEST } from './reference-manifest.ts';

/**
 * Channel layout of the reference latent space (raw, i.e. de-normalised). Each latent
 * cell covers 8x8 pixels; its ink coverage is stored per 4x4-pixel sub-block so that
 * text can be finer than a latent cell.
 */
export const LatentChannel = {
  /** Base colour, RGB in [-1,1]. */
  baseRgb: 0,
  /** Ink coverage in [0,1] of the 2x2 sub-blocks, in DepthToSpace (DCR) order. */
  inkCoverage: 3,
  /** Ink colour, RGB in [-1,1]. */
  inkRgb: 7,
  /** Grain: the first of the channels that carry seed-dependent texture, not content. */
  grain: 10,
} as const;

const SCALE = REFERENCE_MANIFEST.decoder.vaeScaleFactor;
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

  const base = upsampleNearest(g, channels(LatentChannel.baseRgb, LatentChannel.inkCoverage), SCALE);
  const ink = upsampleNearest(g, channels(LatentChannel.inkRgb, LatentChannel.grain), SCALE);
  const coverage = g.op('Clip', [
    channels(LatentChannel.inkCoverage, LatentChannel.inkRgb),
    g.scalar(0),
    g.scalar(1),
  ]);
  const subBlocks = g.op('DepthToSpace', [coverage], { blocksize: 2, mode: 'DCR' });
  const mask = upsampleNearest(g, subBlocks, SCALE / 2);

  const blended = g.op('Add', [base, g.op('Mul', [mask, g.op('Sub', [ink, base])])]);
  const grain = upsampleNearest(g, channels(LatentChannel.grain, LatentChannel.grain + 1), SCALE);
  const textured = g.op('Add', [blended, g.op('Mul', [grain, g.scalar(GRAIN_AMPLITUDE)])]);
  const sample = g.op('Clip', [textured, g.scalar(-1), g.scalar(1)]);
  g.output('sample', sample, DType.float, ['batch', 3, 'height', 'width']);
  return g.toBytes(17, 'GLM-Image reference pack: VAE decoder (latents to RGB).');
}
