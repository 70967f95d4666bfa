import { z } from 'zod';

const scorerName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,39}$/, 'must be lower_snake_case: it names the score it produces');

/**
 * A scorer model the evaluator runs on each stage's images after a generation succeeded:
 * `plan` scorers see the layout preview, `decode` scorers each output image. The graph
 * takes `pixel_values` float32 [1, 3, imageSize, imageSize] (RGB in [0, 1], then
 * `(x - mean) / std` per channel) and, for models that read the prompt too (CLIP-style
 * alignment), `input_ids` and `attention_mask` int64 [1, maxTextLength] from the named
 * tokenizer; it returns `score` ([1] or [1, 1]), mapped from `range` onto [0, 1].
 */
export const OnnxScorerEntry = z
  .object({
    type: z.literal('onnx'),
    name: scorerName,
    stage: z.enum(['plan', 'decode']),
    model: z.string().min(1),
    imageSize: z.number().int().positive().max(4096),
    /** Per-channel normalisation of RGB in [0, 1]; default 0 and 1 (none). */
    mean: z.array(z.number()).length(3).optional(),
    std: z.array(z.number().positive()).length(3).optional(),
    /** The raw score's range, mapped onto [0, 1] and clipped; default [0, 1]. E.g. [1, 10] for a LAION aesthetic head. */
    range: z
      .tuple([z.number(), z.number()])
      .refine(([lo, hi]) => hi > lo, 'must be [low, high] with high > low')
      .optional(),
    /** A Hugging Face tokenizer.json for models that also read the prompt. */
    tokenizer: z.string().min(1).optional(),
    /** Length the prompt ids are padded or cut to; default 77 (CLIP's). */
    maxTextLength: z.number().int().positive().max(4096).optional(),
  })
  .strict();
export type OnnxScorerEntry = z.infer<typeof OnnxScorerEntry>;

/**
 * A scorer the evaluator implements itself, switched on by the pack whose conventions it
 * reads: `reference-layout` checks that the colours a prompt names and its text panel
 * appear in the preview as the reference pack's preview model draws them.
 */
export const BuiltinScorerEntry = z
  .object({
    type: z.literal('builtin'),
    name: scorerName,
    stage: z.enum(['plan', 'decode']),
    builtin: z.enum(['reference-layout']),
  })
  .strict();
export type BuiltinScorerEntry = z.infer<typeof BuiltinScorerEntry>;

export const ScorerEntry = z.discriminatedUnion('type', [OnnxScorerEntry, BuiltinScorerEntry]);
export type ScorerEntry = z.infer<typeof ScorerEntry>;

/**
 * The `model.json` manifest of a model pack. A pack is a folder holding this manifest,
 * the ONNX files it names and a Hugging Face `tokenizer.json`. Names follow the
 * ecosystem's export conventions (Optimum for the planner, diffusers for the decoder)
 * so that an exported real model can be dropped in beside the reference pack.
 */
export const ModelPackManifest = z
  .object({
    format: z.literal('glm-image-model-pack'),
    formatVersion: z.literal(1),
    name: z.string().min(1),
    /** Image sizes the pack accepts, in pixels. */
    sizes: z.object({
      multiple: z.number().int().positive(),
      min: z.number().int().positive(),
      max: z.number().int().positive(),
      /** Largest accepted long-side / short-side ratio (exclusive). */
      maxAspectRatio: z.number().positive(),
      default: z.object({ width: z.number().int().positive(), height: z.number().int().positive() }),
    }),
    planner: z.object({
      /** Causal LM exported like Optimum's decoders (input_ids, attention_mask, position_ids, past_key_values.{i}.key|value). */
      model: z.string().min(1),
      tokenizer: z.string().min(1),
      numLayers: z.number().int().positive(),
      numKvHeads: z.number().int().positive(),
      headDim: z.number().int().positive(),
      /**
       * The image vocabulary: logits index j is token id `firstTokenId + j`. The first
       * `codebookSize` ids are semantic image tokens; the rest are specials.
       */
      imageVocab: z.object({
        firstTokenId: z.number().int().nonnegative(),
        size: z.number().int().positive(),
        codebookSize: z.number().int().positive(),
      }),
      specialTokens: z.object({
        startOfPrompt: z.string().min(1), // <sop>
        endOfPrompt: z.string().min(1), // <eop>
        beginOfImage: z.string().min(1), // <|begin_of_image|>
        endOfImage: z.string().min(1), // <|end_of_image|>
        pad: z.string().min(1),
      }),
      /** Grid rules: main grid is H/mainPatch x W/mainPatch; preview floor(sqrt(H/W)*previewSide) x floor(sqrt(W/H)*previewSide). */
      grid: z.object({ mainPatch: z.number().int().positive(), previewSide: z.number().int().positive() }),
      sampling: z.object({
        temperature: z.number().positive(),
        topP: z.number().gt(0).max(1),
        topK: z.number().int().nonnegative(),
      }),
      /**
       * Optional tokenizer of reference images (image-to-image): `pixel_values` float32
       * [B, 3, H, W], RGB in [0, 1], to `image_token_ids` int64 [B, H/mainPatch, W/mainPatch]
       * codebook indices. The prompt carries each reference's tokens between
       * begin/end-of-image markers ahead of the text, so the plan follows them.
       */
      imageTokenizer: z.object({ model: z.string().min(1) }).optional(),
    }),
    decoder: z.object({
      /** Denoiser: sample, timestep, prior_token_id, prior_token_drop, glyph_ids -> velocity. */
      denoiser: z.string().min(1),
      /** VAE decoder: latent_sample -> sample (RGB in [-1, 1]). */
      vaeDecoder: z.string().min(1),
      latentChannels: z.number().int().positive(),
      vaeScaleFactor: z.number().int().positive(),
      /** Per-channel normalisation: latents fed to the VAE are `latents * std + mean`. */
      latentsMean: z.array(z.number()),
      latentsStd: z.array(z.number().positive()),
      /** Prior tokens are upsampled from the main grid to H/priorPatch x W/priorPatch. */
      priorPatch: z.number().int().positive(),
      glyphs: z.object({
        maxLength: z.number().int().positive(),
        padId: z.number().int(),
        byteOffset: z.number().int(),
      }),
      scheduler: z.object({
        type: z.literal('flow-match-euler'),
        numTrainTimesteps: z.number().int().positive(),
        /** mu = sqrt(seqLen / baseSeqLen) * maxShift + baseShift, seqLen = (H/16)*(W/16). */
        baseSeqLen: z.number().positive(),
        baseShift: z.number(),
        maxShift: z.number(),
        /** 'linear': sigma' = mu / (mu + (1/sigma - 1)); 'exponential': exp(mu) / (exp(mu) + (1/sigma - 1)). */
        timeShift: z.enum(['linear', 'exponential']),
      }),
      defaultSteps: z.number().int().positive(),
      defaultGuidanceScale: z.number().nonnegative(),
      /**
       * Optional conditioning on reference images (image-to-image). Each reference is
       * VAE-encoded, normalised with latentsMean/latentsStd and run once through the
       * denoiser (timestep 0, its own prior tokens, no glyphs) to fill a per-layer key/value
       * cache; the conditional branch of every step then reads it, the unconditional one
       * does not.
       */
      reference: z
        .object({
          /** VAE encoder: `sample` [B, 3, H, W], RGB in [-1, 1], to `latent_sample` [B, C, H/8, W/8] (raw). */
          vaeEncoder: z.string().min(1),
          cache: z.object({
            numLayers: z.number().int().positive(),
            numHeads: z.number().int().positive(),
            headDim: z.number().int().positive(),
            /** Denoiser inputs `{input}.{i}.key|value` [batch, numHeads, reference_length, headDim]; length 0 without references. */
            input: z.string().min(1),
            /** Denoiser input [batch, reference_length]: 1 where a row reads a cached token (0 on the unconditional row). */
            mask: z.string().min(1),
            /** Denoiser outputs `{output}.{i}.key|value` [batch, numHeads, H/16 * W/16, headDim] of the filling pass. */
            output: z.string().min(1),
          }),
        })
        .optional(),
    }),
    /** Optional cheap CPU model: preview_token_id [B, ph, pw] -> image [B, 3, ph*cellPixels, pw*cellPixels] in [0, 1]. */
    preview: z.object({ model: z.string().min(1), cellPixels: z.number().int().positive() }).optional(),
    /** Optional quality scorers for the evaluator (names unique); see ScorerEntry. */
    scorers: z
      .array(ScorerEntry)
      .refine((entries) => new Set(entries.map((e) => e.name)).size === entries.length, 'names must differ')
      .optional(),
  })
  .strict();

export type ModelPackManifest = z.infer<typeof ModelPackManifest>;

/** Whether a pack can take reference images: it tokenizes them for the planner and the decoder reads them. */
export function supportsReferenceImages(manifest: ModelPackManifest): boolean {
  return manifest.planner.imageTokenizer !== undefined && manifest.decoder.reference !== undefined;
}

export type ReferenceCacheSpec = NonNullable<ModelPackManifest['decoder']['reference']>['cache'];

/** The denoiser's reference-cache tensor names, layer by layer: key then value. */
export function referenceCacheNames(cache: ReferenceCacheSpec): {
  inputs: string[];
  outputs: string[];
  mask: string;
} {
  const names = (prefix: string) =>
    Array.from({ length: cache.numLayers }, (_, i) => [`${prefix}.${i}.key`, `${prefix}.${i}.value`]).flat();
  return { inputs: names(cache.input), outputs: names(cache.output), mask: cache.mask };
}
