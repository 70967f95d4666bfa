/**
 * The fault suite's model pack: the fixed-cost pack (a denoiser step costs a known amount
 * of arithmetic, so a render lasts long enough to be killed in the middle), except that
 * its denoiser can render only the smallest size. Every other size the manifest admits
 * fails inside the model on the first step, the way a real model fails on an input it
 * cannot handle: a generation at such a size is a job that fails its worker every time.
 */
import {
  buildPack,
  DType,
  denoiserInputs,
  FIXED_COST_MANIFEST,
  fixedCostPack,
  fixedCostVelocity,
  GraphBuilder,
} from '@glm-image/inference/reference-pack';

/** The one size the pack's denoiser renders. */
export const RENDERABLE_SIZE = 64;
/** A size the manifest admits and the denoiser fails on. */
export const UNRENDERABLE_SIZE = 128;

/**
 * Work units per image per denoiser step: about 5 ms on one core of the development
 * machine, so that a 100-step render lasts a second or more and a 1-step one stays cheap.
 */
const WORK = 256;

export async function buildSizeLimitedPack(dir: string): Promise<void> {
  const manifest = { ...FIXED_COST_MANIFEST, name: 'glm-image-fault-suite' };
  await buildPack(dir, {
    ...fixedCostPack(WORK),
    manifest,
    denoiser: () => {
      const g = new GraphBuilder('size_limited_denoiser');
      const { sample } = denoiserInputs(g, manifest);
      const { latentChannels, vaeScaleFactor } = manifest.decoder;
      const side = RENDERABLE_SIZE / vaeScaleFactor;
      // Adding a zero latent of the one renderable size broadcasts for that size only.
      const zeros = g.constFloat(new Float32Array(latentChannels * side * side), [
        1,
        latentChannels,
        side,
        side,
      ]);
      const velocity = g.op('Add', [fixedCostVelocity(g, sample, WORK), zeros]);
      g.output('velocity', velocity, DType.float, ['batch', latentChannels, 'lh', 'lw']);
      return g.toBytes(17, `Fault-suite denoiser: renders ${RENDERABLE_SIZE}x${RENDERABLE_SIZE} only.`);
    },
  });
}
