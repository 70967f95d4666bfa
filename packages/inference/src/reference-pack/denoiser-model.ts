import type { ReferenceCacheSpec } from '../model-pack-manifest.ts';
import { referenceCache } from './denoiser-reference-cache.ts';
import { renderGlyphInk } from './glyph-renderer.ts';
import { DType, GraphBuilder } from './graph-builder.ts';
import { decodeTokenColours, upsampleNearest } from './preview-model.ts';
import { LATENTS_MEAN, LATENTS_STD, REFERENCE_MANIFEST } from './reference-manifest.ts';
import { INK_ROW_WEIGHTS, LatentChannel } from './vae-decoder-model.ts';

const { latentChannels, vaeScaleFactor } = REFERENCE_MANIFEST.decoder;
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

export interface DenoiserOptions {
  /** The reference-image cache's inputs and outputs (`decoder.reference.cache`); none when absent. */
  referenceCache?: ReferenceCacheSpec;
}

export function buildDenoiserModel(options: DenoiserOptions = {}): Uint8Array {
  const g = new GraphBuilder('glm_image_reference_denoiser');
  const sample = g.input('sample', DType.float, ['batch', latentChannels, 'latent_height', 'latent_width']);
  const timestep = g.input('timestep', DType.float, ['batch']);
  const prior = g.input('prior_token_id', DType.int64, ['batch', 'prior_height', 'prior_width']);
  const drop = g.input('prior_token_drop', DType.bool, ['batch']);
  const glyphIds = g.input('glyph_ids', DType.int64, ['batch', 'glyph_length']);
  const reference = options.referenceCache
    ? referenceCache(g, options.referenceCache, sample, prior)
    : undefined;

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
  if (LatentChannel.inkRgb !== 3 || LatentChannel.inkRows !== 6 || LatentChannel.inkScale !== 14) {
    throw new Error('the denoiser writes base RGB, ink RGB, ink rows and ink scale in that order');
  }

  // Each latent cell carries its 8x8 pixels of ink as eight row codes (see LatentChannel).
  const ink = renderGlyphInk(g, glyphIds, isPanel);
  const inkRows = g.op(
    'Conv',
    [ink, g.constFloat(INK_ROW_WEIGHTS, [vaeScaleFactor, 1, vaeScaleFactor, vaeScaleFactor], 'ink_rows')],
    {
      strides: [vaeScaleFactor, vaeScaleFactor],
    },
  );
  const inkScale = g.op('Add', [g.op('Mul', [channels(0, 1), g.scalar(0)]), g.scalar(1)]);
  const used = g.op('Concat', [colours, inkRows, inkScale], { axis: 1 });
  const grainCount = latentChannels - LatentChannel.grain;
  const raw = g.op('Pad', [used, g.constInt64([0, 0, 0, 0, 0, grainCount, 0, 0], [8])]);
  const dropped = g.op('Reshape', [drop, g.constInt64([-1, 1, 1, 1], [4])]);
  const target = g.op('Where', [dropped, g.scalar(0), raw]);

  const stats = (values: number[], hint: string) => g.constFloat(values, [1, latentChannels, 1, 1], hint);
  const planned = g.op('Div', [
    g.op('Sub', [target, stats(LATENTS_MEAN, 'mean')]),
    stats(LATENTS_STD, 'std'),
  ]);
  const x0 = reference ? reference.read(planned) : planned;
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
