import { DType, GraphBuilder } from './graph-builder.ts';
import { REFERENCE_MANIFEST } from './reference-manifest.ts';
import { LatentChannel } from './vae-decoder-model.ts';

const { latentChannels, vaeScaleFactor } = REFERENCE_MANIFEST.decoder;

/**
 * The VAE encoder: `sample` float32 [B, 3, H, W] (RGB in [-1, 1]) to `latent_sample`
 * [B, 16, H/8, W/8] raw latents, the inverse of the VAE decoder as far as a plain image
 * goes: each latent cell's base colour is its 8x8 block's mean, with no ink (ink scale 0,
 * which the decoder reads as "no text drawn here") and no grain.
 */
export function buildVaeEncoderModel(): Uint8Array {
  if (LatentChannel.baseRgb !== 0) throw new Error('the encoder writes the base colour first');
  const g = new GraphBuilder('glm_image_reference_vae_encoder');
  const sample = g.input('sample', DType.float, ['batch', 3, 'height', 'width']);
  const base = g.op('AveragePool', [sample], {
    kernel_shape: [vaeScaleFactor, vaeScaleFactor],
    strides: [vaeScaleFactor, vaeScaleFactor],
  });
  const latent = g.op('Pad', [base, g.constInt64([0, 0, 0, 0, 0, latentChannels - 3, 0, 0], [8])]);
  g.output('latent_sample', latent, DType.float, ['batch', latentChannels, 'latent_height', 'latent_width']);
  return g.toBytes(17, 'GLM-Image reference pack: VAE encoder (RGB to latents).');
}
