import type { ModelPackManifest } from '../model-pack-manifest.ts';
import type { PackSpec } from './build-pack.ts';
import { DType, GraphBuilder } from './graph-builder.ts';
import { upsampleNearest } from './preview-model.ts';
import { END_OF_IMAGE_ID, REFERENCE_MANIFEST, withoutReferenceImages } from './reference-manifest.ts';
import { buildTokenizerJson } from './tokenizer-json.ts';

/**
 * The zero-cost pack: real ONNX graphs on the same contract as the reference pack that
 * compute almost nothing, so that a benchmark run with it measures the serving layer
 * (queues, lifecycle, object store, threads) and not the model. The planner returns flat
 * logits over a 16-entry codebook, the denoiser returns its sample as the velocity, the
 * VAE shows the first three latent channels, and sizes start at 64x64 with a 2x2
 * preview grid, so a generation is a handful of tiny tensors. It builds no image tokenizer,
 * VAE encoder or reference cache, so it is text-to-image only and refuses reference images.
 */

/** The reference manifest's sections, less the reference-image models this pack does not build. */
const TEXT_TO_IMAGE = withoutReferenceImages(REFERENCE_MANIFEST);

const CODEBOOK = 16;
const LATENT_CHANNELS = 4;
const SCALE = 8;

export const ZERO_COST_MANIFEST: ModelPackManifest = {
  format: 'glm-image-model-pack',
  formatVersion: 1,
  name: 'glm-image-zero-cost',
  sizes: { multiple: 32, min: 64, max: 2048, maxAspectRatio: 4, default: { width: 64, height: 64 } },
  planner: {
    ...TEXT_TO_IMAGE.planner,
    numLayers: 1,
    numKvHeads: 1,
    headDim: 1,
    // The reference tokenizer's end-of-image id closes the image range, as the contract asks.
    imageVocab: { firstTokenId: END_OF_IMAGE_ID - CODEBOOK, size: CODEBOOK + 2, codebookSize: CODEBOOK },
    grid: { mainPatch: 32, previewSide: 2 },
  },
  decoder: {
    ...TEXT_TO_IMAGE.decoder,
    latentChannels: LATENT_CHANNELS,
    vaeScaleFactor: SCALE,
    latentsMean: new Array<number>(LATENT_CHANNELS).fill(0),
    latentsStd: new Array<number>(LATENT_CHANNELS).fill(1),
    glyphs: { ...TEXT_TO_IMAGE.decoder.glyphs, maxLength: 16 },
    defaultSteps: 8,
  },
  preview: { model: 'preview.onnx', cellPixels: 8 },
};

/** The zero-cost pack, under `manifest` (the fixed-cost pack reuses everything but the denoiser). */
export function zeroCostPack(manifest: ModelPackManifest = ZERO_COST_MANIFEST): PackSpec {
  return {
    manifest,
    planner: () => buildFlatPlanner(manifest),
    tokenizer: buildTokenizerJson,
    denoiser: () => {
      const g = new GraphBuilder('zero_cost_denoiser');
      const { sample } = denoiserInputs(g, manifest);
      g.output('velocity', sample, DType.float, ['batch', manifest.decoder.latentChannels, 'lh', 'lw']);
      return g.toBytes(17, 'GLM-Image zero-cost pack: denoiser (velocity = sample).');
    },
    vaeDecoder: () => buildChannelVae(manifest),
    preview: () => buildGreyPreview(manifest),
  };
}

/** The denoiser's five contract inputs; only `sample` is read, the rest are declared and fed. */
export function denoiserInputs(g: GraphBuilder, manifest: ModelPackManifest): { sample: string } {
  const sample = g.input('sample', DType.float, ['batch', manifest.decoder.latentChannels, 'lh', 'lw']);
  g.input('timestep', DType.float, ['batch']);
  g.input('prior_token_id', DType.int64, ['batch', 'prior_height', 'prior_width']);
  g.input('prior_token_drop', DType.bool, ['batch']);
  g.input('glyph_ids', DType.int64, ['batch', 'glyph_length']);
  return { sample };
}

/** A one-layer causal LM whose logits are flat: every codebook entry is equally likely. */
function buildFlatPlanner(manifest: ModelPackManifest): Uint8Array {
  const { numKvHeads, headDim, imageVocab } = manifest.planner;
  if (numKvHeads !== 1 || headDim !== 1) throw new Error('the flat planner is wired for one 1-wide KV head');
  const g = new GraphBuilder('zero_cost_planner');
  const inputIds = g.input('input_ids', DType.int64, ['batch', 'sequence_length']);
  g.input('attention_mask', DType.int64, ['batch', 'total_sequence_length']);
  g.input('position_ids', DType.int64, ['batch', 'sequence_length']);
  const kvDims = ['batch', 1, 'past_sequence_length', 1];
  const presentDims = ['batch', 1, 'total_sequence_length', 1];
  // The cache holds each token id, so `present` grows by the step's tokens as the contract says.
  const current = g.op('Unsqueeze', [
    g.op('Cast', [inputIds], { to: DType.float }),
    g.constInt64([1, 3], [2]),
  ]);
  for (const part of ['key', 'value']) {
    const past = g.input(`past_key_values.0.${part}`, DType.float, kvDims);
    g.output(`present.0.${part}`, g.op('Concat', [past, current], { axis: 2 }), DType.float, presentDims);
  }
  const logitsShape = g.op('Concat', [g.op('Shape', [inputIds]), g.constInt64([imageVocab.size], [1])], {
    axis: 0,
  });
  const logits = g.op('Expand', [
    g.constFloat(new Float32Array(imageVocab.size), [imageVocab.size]),
    logitsShape,
  ]);
  g.output('logits', logits, DType.float, ['batch', 'sequence_length', imageVocab.size]);
  return g.toBytes(17, 'GLM-Image zero-cost pack: planner (flat logits).');
}

/** The VAE decoder: the first three latent channels as RGB, upsampled to pixels. */
function buildChannelVae(manifest: ModelPackManifest): Uint8Array {
  const { latentChannels, vaeScaleFactor } = manifest.decoder;
  const g = new GraphBuilder('zero_cost_vae_decoder');
  const latent = g.input('latent_sample', DType.float, ['batch', latentChannels, 'lh', 'lw']);
  const rgb = g.op('Slice', [latent, g.constInt64([0], [1]), g.constInt64([3], [1]), g.constInt64([1], [1])]);
  const pixels = upsampleNearest(g, g.op('Clip', [rgb, g.scalar(-1), g.scalar(1)]), vaeScaleFactor);
  g.output('sample', pixels, DType.float, ['batch', 3, 'height', 'width']);
  return g.toBytes(17, 'GLM-Image zero-cost pack: VAE decoder (latent channels as RGB).');
}

/** The preview model: each cell a grey level of its token. */
function buildGreyPreview(manifest: ModelPackManifest): Uint8Array {
  const { codebookSize } = manifest.planner.imageVocab;
  const g = new GraphBuilder('zero_cost_preview');
  const tokens = g.input('preview_token_id', DType.int64, ['batch', 'preview_height', 'preview_width']);
  const grey = g.op('Div', [g.op('Cast', [tokens], { to: DType.float }), g.scalar(codebookSize)]);
  const plane = g.op('Unsqueeze', [grey, g.constInt64([1], [1])]);
  const rgb = g.op('Concat', [plane, plane, plane], { axis: 1 });
  g.output('image', upsampleNearest(g, rgb, manifest.preview?.cellPixels ?? SCALE), DType.float, [
    'batch',
    3,
    'height',
    'width',
  ]);
  return g.toBytes(17, 'GLM-Image zero-cost pack: preview (grey cells).');
}
