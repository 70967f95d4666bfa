import type { InferenceSession } from 'onnxruntime-node';
import { ModelError } from '../errors.ts';
import type { ModelPackManifest } from '../model-pack-manifest.ts';
import { FlowMatchEulerScheduler } from './flow-match-euler-scheduler.ts';
import { gaussianNoise } from './gaussian-noise.ts';
import { encodeGlyphs } from './glyphs.ts';
import { applyGuidance, guidanceEnabled } from './guidance.ts';
import { planarToRgb8 } from './image-encoding.ts';
import { floatOutput, inputTensor } from './onnx-feeds.ts';
import { priorDims, upsampleTokenGrid } from './prior-tokens.ts';
import { fillReferenceCache, referenceCacheFeeds } from './reference-cache.ts';
import type { ResolvedRenderRequest } from './render-request-validation.ts';

export interface DecoderSessions {
  denoiser: InferenceSession;
  vaeDecoder: InferenceSession;
  /** Open when the pack takes reference images (decoder.reference). */
  vaeEncoder?: InferenceSession;
}

export interface DecoderLoopCallbacks {
  /**
   * Called after each finished denoiser step (step counts from 1), with the time spent
   * inside the denoiser's `session.run` for that step. The first step's time includes
   * the reference pass that filled the reference cache (image-to-image), which also runs
   * the denoiser, so that the sum over a render is all of its denoiser time.
   */
  onStep?: (step: number, total: number, denoiserMs: number) => void;
  /** Throws to stop decoding; called before the first step and after every step. */
  throwIfCanceled?: () => void;
}

export interface DecodedImage {
  /** Interleaved 8-bit RGB, width * height * 3 bytes. */
  rgb: Uint8Array;
  width: number;
  height: number;
  steps: number;
  /** True when the quoted text did not fit the glyph input and was cut. */
  glyphsTruncated: boolean;
}

/**
 * The whole diffusion decode for one image: noise, `steps` denoiser calls combined by
 * classifier-free guidance and integrated by the scheduler, de-normalisation, VAE.
 * A plain function of the open sessions, so that it runs the same in a model thread
 * or in-process.
 */
export async function runDecoderLoop(
  sessions: DecoderSessions,
  manifest: ModelPackManifest,
  req: ResolvedRenderRequest,
  callbacks: DecoderLoopCallbacks = {},
): Promise<DecodedImage> {
  const { decoder } = manifest;
  const { width, height, steps } = req;
  const channels = decoder.latentChannels;
  const latentH = height / decoder.vaeScaleFactor;
  const latentW = width / decoder.vaeScaleFactor;
  const priorRows = height / decoder.priorPatch;
  const priorCols = width / decoder.priorPatch;
  const latentSize = channels * latentH * latentW;

  const scheduler = new FlowMatchEulerScheduler(decoder.scheduler);
  scheduler.setTimesteps(steps, priorRows * priorCols);

  // Branch 0 is conditional; branch 1 (guidance only) drops the prior tokens and glyphs.
  const guided = guidanceEnabled(req.guidanceScale);
  const batch = guided ? 2 : 1;
  const glyphs = encodeGlyphs(req.prompt, decoder.glyphs);
  const glyphIds = guided
    ? [...glyphs.ids, ...new Array<number>(decoder.glyphs.maxLength).fill(decoder.glyphs.padId)]
    : glyphs.ids;
  const prior = upsampleTokenGrid(req.main, priorRows, priorCols);
  const priorIds = guided ? [...prior, ...prior] : prior;

  const { denoiser } = sessions;
  callbacks.throwIfCanceled?.();
  const referencePass = await fillReferenceCache(sessions, manifest, req.references ?? [], {
    width,
    height,
    latentH,
    latentW,
    priorRows,
    priorCols,
  });
  const constantFeeds = {
    prior_token_id: inputTensor(
      denoiser,
      'prior_token_id',
      priorIds,
      priorDims(denoiser, batch, priorRows, priorCols),
    ),
    prior_token_drop: inputTensor(denoiser, 'prior_token_drop', guided ? [0, 1] : [0], [batch]),
    glyph_ids: inputTensor(denoiser, 'glyph_ids', glyphIds, [batch, decoder.glyphs.maxLength]),
    ...referenceCacheFeeds(denoiser, manifest, referencePass.cache, batch),
  };
  // Only the velocity is needed; a graph with cache outputs need not compute them.
  const fetches = manifest.decoder.reference ? ['velocity'] : undefined;

  let latents = gaussianNoise(req.seed, latentSize);
  const batchSample = new Float32Array(batch * latentSize);
  callbacks.throwIfCanceled?.();
  for (let i = 0; i < steps; i += 1) {
    batchSample.set(latents, 0);
    if (guided) batchSample.set(latents, latentSize);
    const t = scheduler.timesteps[i] as number;
    const feeds = {
      ...constantFeeds,
      sample: inputTensor(denoiser, 'sample', batchSample, [batch, channels, latentH, latentW]),
      timestep: inputTensor(denoiser, 'timestep', guided ? [t, t] : [t], [batch]),
    };
    const started = performance.now();
    const outputs = await runModel(denoiser, 'denoiser', feeds, fetches);
    // The first step also carries the reference pass's denoiser time (see onStep).
    const denoiserMs = performance.now() - started + (i === 0 ? referencePass.denoiserMs : 0);
    const velocity = floatOutput(outputs, 'velocity', batch * latentSize);
    const guidedVelocity = guided
      ? applyGuidance(velocity.subarray(0, latentSize), velocity.subarray(latentSize), req.guidanceScale)
      : velocity;
    latents = scheduler.step(guidedVelocity, i, latents);
    // Checked before reporting, so that no step is reported after a cancellation.
    callbacks.throwIfCanceled?.();
    callbacks.onStep?.(i + 1, steps, denoiserMs);
  }

  const raw = denormaliseLatents(latents, decoder.latentsMean, decoder.latentsStd, latentH * latentW);
  const { vaeDecoder } = sessions;
  const decoded = await runModel(vaeDecoder, 'VAE decoder', {
    latent_sample: inputTensor(vaeDecoder, 'latent_sample', raw, [1, channels, latentH, latentW]),
  });
  const pixels = floatOutput(decoded, 'sample', 3 * width * height);
  return {
    rgb: planarToRgb8(pixels, width, height, 'signed'),
    width,
    height,
    steps,
    glyphsTruncated: glyphs.truncated,
  };
}

/** latents * std + mean, per channel: the VAE works on raw latents, the denoiser on normalised ones. */
export function denormaliseLatents(
  latents: Float32Array,
  mean: number[],
  std: number[],
  plane: number,
): Float32Array {
  const raw = new Float32Array(latents.length);
  const channels = latents.length / plane;
  for (let c = 0; c < channels; c += 1) {
    const m = mean[c] ?? 0;
    const s = std[c] ?? 1;
    for (let p = c * plane; p < (c + 1) * plane; p += 1) raw[p] = (latents[p] as number) * s + m;
  }
  return raw;
}

async function runModel(
  session: InferenceSession,
  role: string,
  feeds: InferenceSession.FeedsType,
  fetches?: string[],
): Promise<InferenceSession.OnnxValueMapType> {
  try {
    return fetches ? await session.run(feeds, fetches) : await session.run(feeds);
  } catch (cause) {
    throw new ModelError(`${role} failed: ${(cause as Error).message}`, { cause });
  }
}
