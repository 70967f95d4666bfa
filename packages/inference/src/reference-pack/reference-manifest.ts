import type { ModelPackManifest } from '../model-pack-manifest.ts';
import { COLOURFULNESS_IMAGE_SIZE } from './colourfulness-model.ts';
import { CODEBOOK_SIZE } from './semantic-codebook.ts';

/** First token id of the image vocabulary; text and special tokens live below it. */
export const IMAGE_TOKEN_OFFSET = 4096;
/** Codebook plus 128 specials, as in GLM-Image's LM head. */
export const IMAGE_VOCAB_SIZE = 16_512;
export const END_OF_IMAGE_ID = IMAGE_TOKEN_OFFSET + CODEBOOK_SIZE;
export const BEGIN_OF_IMAGE_ID = END_OF_IMAGE_ID + 1;

/**
 * Normalisation of the reference VAE's latent space. Deliberately not 0/1 so that
 * a runtime forgetting to de-normalise produces visibly wrong colours.
 */
export const LATENTS_MEAN = [0.1, -0.05, 0.08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
export const LATENTS_STD = [0.9, 1.1, 0.95, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];

export const REFERENCE_MANIFEST: ModelPackManifest = {
  format: 'glm-image-model-pack',
  formatVersion: 1,
  name: 'glm-image-reference',
  sizes: { multiple: 32, min: 512, max: 2048, maxAspectRatio: 4, default: { width: 1024, height: 1024 } },
  planner: {
    model: 'planner.onnx',
    tokenizer: 'tokenizer.json',
    numLayers: 2,
    numKvHeads: 1,
    headDim: 32,
    imageVocab: { firstTokenId: IMAGE_TOKEN_OFFSET, size: IMAGE_VOCAB_SIZE, codebookSize: CODEBOOK_SIZE },
    specialTokens: {
      startOfPrompt: '<sop>',
      endOfPrompt: '<eop>',
      beginOfImage: '<|begin_of_image|>',
      endOfImage: '<|end_of_image|>',
      pad: '<pad>',
    },
    grid: { mainPatch: 32, previewSide: 16 },
    sampling: { temperature: 0.9, topP: 0.75, topK: 0 },
    imageTokenizer: { model: 'image_tokenizer.onnx' },
  },
  decoder: {
    denoiser: 'denoiser.onnx',
    vaeDecoder: 'vae_decoder.onnx',
    latentChannels: 16,
    vaeScaleFactor: 8,
    latentsMean: LATENTS_MEAN,
    latentsStd: LATENTS_STD,
    priorPatch: 16,
    glyphs: { maxLength: 256, padId: 0, byteOffset: 3 },
    scheduler: {
      type: 'flow-match-euler',
      numTrainTimesteps: 1000,
      baseSeqLen: 256,
      baseShift: 0.25,
      maxShift: 0.75,
      timeShift: 'linear',
    },
    defaultSteps: 50,
    defaultGuidanceScale: 1.5,
    reference: {
      vaeEncoder: 'vae_encoder.onnx',
      cache: {
        numLayers: 1,
        numHeads: 1,
        // One entry per 16x16-pixel patch token: its 2x2 latent cells of 16 channels.
        headDim: 64,
        input: 'reference_key_values',
        mask: 'reference_attention_mask',
        output: 'reference_present',
      },
    },
  },
  preview: { model: 'preview.onnx', cellPixels: 8 },
  scorers: [
    { type: 'builtin', name: 'prompt_alignment', stage: 'plan', builtin: 'reference-layout' },
    {
      type: 'onnx',
      name: 'colourfulness',
      stage: 'decode',
      model: 'colourfulness.onnx',
      imageSize: COLOURFULNESS_IMAGE_SIZE,
      range: [0, 0.45],
    },
  ],
};

/**
 * `manifest` without the parts that take reference images (the planner's image tokenizer
 * and the decoder's reference cache): a text-to-image pack, which loads as such and
 * refuses reference images with a clear error. Packs that reuse the reference manifest's
 * sections but build none of those models start from this.
 */
export function withoutReferenceImages(manifest: ModelPackManifest): ModelPackManifest {
  const { imageTokenizer: _tokenizer, ...planner } = manifest.planner;
  const { reference: _reference, ...decoder } = manifest.decoder;
  return { ...manifest, planner, decoder };
}
