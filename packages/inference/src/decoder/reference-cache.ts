/**
 * Image-to-image in the decoder: each reference image is VAE-encoded, normalised, and run
 * once through the denoiser (timestep 0, its own prior tokens, no glyphs) to fill a
 * per-layer key/value cache; every denoising step then feeds that cache, which the
 * conditional branch reads and the unconditional one is masked from. The tensor names
 * come from the manifest (`decoder.reference.cache`).
 */
import type { InferenceSession } from 'onnxruntime-node';
import { Tensor } from 'onnxruntime-node';
import { ModelError, ModelPackError } from '../errors.ts';
import { type ModelPackManifest, referenceCacheNames } from '../model-pack-manifest.ts';
import { floatOutput, inputTensor } from './onnx-feeds.ts';
import { priorDims, upsampleTokenGrid } from './prior-tokens.ts';
import type { ResolvedReference } from './render-request-validation.ts';

/** The filled cache: per input name, the references' entries one after another along the sequence. */
export interface ReferenceCache {
  /** Entries per head (all references together). */
  length: number;
  /** Input name -> [heads, length, headDim] values (batch 1). */
  entries: Map<string, Float32Array>;
}

export interface ReferenceCacheSessions {
  denoiser: InferenceSession;
  vaeEncoder?: InferenceSession;
}

/** Geometry of the image being decoded. */
export interface DecodeGeometry {
  width: number;
  height: number;
  latentH: number;
  latentW: number;
  priorRows: number;
  priorCols: number;
}

/** What the filling pass made, and the time it spent inside the denoiser (part of the decoder's duty cycle). */
export interface ReferencePass {
  /** Null when the pack keeps no reference cache. */
  cache: ReferenceCache | null;
  denoiserMs: number;
}

/** Runs the filling pass for every reference. */
export async function fillReferenceCache(
  sessions: ReferenceCacheSessions,
  manifest: ModelPackManifest,
  references: readonly ResolvedReference[],
  geometry: DecodeGeometry,
): Promise<ReferencePass> {
  const spec = manifest.decoder.reference;
  if (!spec) return { cache: null, denoiserMs: 0 };
  const { vaeEncoder, denoiser } = sessions;
  if (references.length > 0 && !vaeEncoder) {
    throw new ModelPackError('model.json', 'decoder.reference.vaeEncoder', 'no VAE encoder session is open');
  }
  const { cache } = spec;
  const names = referenceCacheNames(cache);
  const { decoder } = manifest;
  const { width, height, latentH, latentW, priorRows, priorCols } = geometry;
  const channels = decoder.latentChannels;
  const perReference = priorRows * priorCols;
  const filled = names.inputs.map(() => [] as Float32Array[]);
  let denoiserMs = 0;
  for (const reference of references) {
    const encoded = await run(vaeEncoder!, 'VAE encoder', {
      sample: inputTensor(vaeEncoder!, 'sample', reference.pixels, [1, 3, height, width]),
    });
    const latent = normaliseLatents(
      floatOutput(encoded, 'latent_sample', channels * latentH * latentW),
      decoder.latentsMean,
      decoder.latentsStd,
      latentH * latentW,
    );
    const prior = upsampleTokenGrid(reference.tokens, priorRows, priorCols);
    const feeds = {
      ...emptyCacheFeeds(denoiser, names, cache, 1),
      sample: inputTensor(denoiser, 'sample', latent, [1, channels, latentH, latentW]),
      timestep: inputTensor(denoiser, 'timestep', [0], [1]),
      prior_token_id: inputTensor(
        denoiser,
        'prior_token_id',
        prior,
        priorDims(denoiser, 1, priorRows, priorCols),
      ),
      prior_token_drop: inputTensor(denoiser, 'prior_token_drop', [0], [1]),
      glyph_ids: inputTensor(
        denoiser,
        'glyph_ids',
        new Array<number>(decoder.glyphs.maxLength).fill(decoder.glyphs.padId),
        [1, decoder.glyphs.maxLength],
      ),
    };
    const started = performance.now();
    const outputs = await run(denoiser, 'denoiser (reference pass)', feeds, names.outputs);
    denoiserMs += performance.now() - started;
    names.outputs.forEach((name, i) => {
      filled[i]!.push(floatOutput(outputs, name, cache.numHeads * perReference * cache.headDim));
    });
  }
  const length = perReference * references.length;
  const entries = new Map<string, Float32Array>();
  names.inputs.forEach((name, i) => {
    entries.set(name, concatAlongSequence(filled[i]!, cache.numHeads, perReference, cache.headDim));
  });
  return { cache: { length, entries }, denoiserMs };
}

/**
 * The cache inputs of one denoising step of `batch` rows. Row 0 (conditional) reads the
 * whole cache; row 1 (unconditional, when guided) is masked from it. Empty (length 0)
 * without references.
 */
export function referenceCacheFeeds(
  denoiser: InferenceSession,
  manifest: ModelPackManifest,
  filled: ReferenceCache | null,
  batch: number,
): Record<string, Tensor> {
  const cache = manifest.decoder.reference?.cache;
  if (!cache) return {};
  const names = referenceCacheNames(cache);
  if (!filled || filled.length === 0) return emptyCacheFeeds(denoiser, names, cache, batch);
  const feeds: Record<string, Tensor> = {};
  for (const [name, entries] of filled.entries) {
    const rows = new Float32Array(entries.length * batch);
    for (let b = 0; b < batch; b += 1) rows.set(entries, b * entries.length);
    feeds[name] = new Tensor('float32', rows, [batch, cache.numHeads, filled.length, cache.headDim]);
  }
  const mask = new Array<number>(batch * filled.length).fill(0).fill(1, 0, filled.length);
  feeds[names.mask] = inputTensor(denoiser, names.mask, mask, [batch, filled.length]);
  return feeds;
}

/** (raw - mean) / std, per channel: the denoiser works on normalised latents. */
export function normaliseLatents(
  raw: Float32Array,
  mean: number[],
  std: number[],
  plane: number,
): Float32Array {
  const out = new Float32Array(raw.length);
  const channels = raw.length / plane;
  for (let c = 0; c < channels; c += 1) {
    const m = mean[c] ?? 0;
    const s = std[c] ?? 1;
    for (let p = c * plane; p < (c + 1) * plane; p += 1) out[p] = ((raw[p] as number) - m) / s;
  }
  return out;
}

function emptyCacheFeeds(
  denoiser: InferenceSession,
  names: ReturnType<typeof referenceCacheNames>,
  cache: NonNullable<ModelPackManifest['decoder']['reference']>['cache'],
  batch: number,
): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const name of names.inputs) {
    feeds[name] = new Tensor('float32', new Float32Array(0), [batch, cache.numHeads, 0, cache.headDim]);
  }
  feeds[names.mask] = inputTensor(denoiser, names.mask, [], [batch, 0]);
  return feeds;
}

/** [heads, n, dim] blocks of several references joined along n, head by head. */
function concatAlongSequence(blocks: Float32Array[], heads: number, n: number, dim: number): Float32Array {
  const out = new Float32Array(blocks.length * heads * n * dim);
  const total = blocks.length * n;
  blocks.forEach((block, r) => {
    for (let h = 0; h < heads; h += 1) {
      out.set(block.subarray(h * n * dim, (h + 1) * n * dim), (h * total + r * n) * dim);
    }
  });
  return out;
}

async function run(
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
