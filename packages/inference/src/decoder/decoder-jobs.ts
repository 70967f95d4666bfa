/**
 * The decoder's model-thread jobs (see ../execution/model-thread.ts): the denoiser and
 * VAE sessions live in the thread, and `render` runs the whole decode loop there so
 * that the caller's event loop stays free while the models run.
 */
import { openSession } from '../execution/execution-options.ts';
import type { CreateModelJobs, ModelJob } from '../execution/model-job.ts';
import { type DecodedImage, runDecoderLoop } from './decoder-loop.ts';
import type { ResolvedRenderRequest } from './render-request-validation.ts';

/** Progress message of the render job: one per finished denoiser step. */
export interface DecoderStepProgress {
  step: number;
  total: number;
  /** Time inside the denoiser's session.run for this step (the first step's includes the reference pass). */
  denoiserMs: number;
}

export type DecoderJobs = { render: ModelJob<ResolvedRenderRequest, DecodedImage> };

export const createModelJobs: CreateModelJobs<DecoderJobs> = async (pack, options) => {
  const denoiser = await openSession(pack.files.denoiser, options);
  const vaeDecoder = await openSession(pack.files.vaeDecoder, options).catch(async (error: unknown) => {
    await denoiser.release();
    throw error;
  });
  const vaeEncoder = pack.files.vaeEncoder
    ? await openSession(pack.files.vaeEncoder, options).catch(async (error: unknown) => {
        await Promise.allSettled([denoiser.release(), vaeDecoder.release()]);
        throw error;
      })
    : undefined;
  const sessions = { denoiser, vaeDecoder, ...(vaeEncoder ? { vaeEncoder } : {}) };
  return {
    jobs: {
      render: (request, context) =>
        runDecoderLoop(sessions, pack.manifest, request, {
          throwIfCanceled: () => context.throwIfCanceled(),
          onStep: (step, total, denoiserMs) =>
            context.progress({ step, total, denoiserMs } satisfies DecoderStepProgress, true),
        }),
    },
    close: async () => {
      try {
        await denoiser.release();
      } finally {
        try {
          await vaeDecoder.release();
        } finally {
          await vaeEncoder?.release();
        }
      }
    },
  };
};
