import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelPackManifest } from '../model-pack-manifest.ts';
import { buildColourfulnessModel } from './colourfulness-model.ts';
import { buildDenoiserModel } from './denoiser-model.ts';
import { buildImageTokenizerModel } from './image-tokenizer-model.ts';
import { buildPlannerModel } from './planner-model.ts';
import { buildPreviewModel } from './preview-model.ts';
import { REFERENCE_MANIFEST, withoutReferenceImages } from './reference-manifest.ts';
import { buildTokenizerJson } from './tokenizer-json.ts';
import { buildVaeDecoderModel } from './vae-decoder-model.ts';
import { buildVaeEncoderModel } from './vae-encoder-model.ts';

/**
 * What a built pack is made of: its manifest and a builder for each file the manifest
 * names. Every pack this project builds (reference, zero-cost, fixed-cost) goes through
 * `buildPack`, so they all obey the same contract and load through the same validation.
 */
export interface PackSpec {
  manifest: ModelPackManifest;
  planner(): Uint8Array;
  tokenizer(): Record<string, unknown>;
  denoiser(): Uint8Array;
  vaeDecoder(): Uint8Array;
  /** Required when the manifest names a preview model. */
  preview?(): Uint8Array;
  /** Required when the manifest names an image tokenizer (`planner.imageTokenizer`). */
  imageTokenizer?(): Uint8Array;
  /** Required when the manifest names a reference cache (`decoder.reference`). */
  vaeEncoder?(): Uint8Array;
  /** A builder per ONNX scorer model the manifest names, by file name. */
  scorers?: Record<string, () => Uint8Array>;
}

export interface ReferencePackOptions {
  /**
   * Whether the pack takes reference images (image-to-image): the image tokenizer, the VAE
   * encoder and the denoiser's reference cache. Default true; without them the pack is
   * text-to-image only and refuses reference images.
   */
  referenceImages?: boolean;
}

/** The reference pack's manifest, with or without the reference-image parts. */
export function referencePackManifest(options: ReferencePackOptions = {}): ModelPackManifest {
  return (options.referenceImages ?? true) ? REFERENCE_MANIFEST : withoutReferenceImages(REFERENCE_MANIFEST);
}

/** The reference pack, with or without the reference-image parts. */
export function referencePack(options: ReferencePackOptions = {}): PackSpec {
  const manifest = referencePackManifest(options);
  return {
    manifest,
    planner: buildPlannerModel,
    tokenizer: buildTokenizerJson,
    // The denoiser declares the reference cache's inputs and outputs only when the manifest names them.
    denoiser: () => buildDenoiserModel({ referenceCache: manifest.decoder.reference?.cache }),
    vaeDecoder: buildVaeDecoderModel,
    preview: buildPreviewModel,
    imageTokenizer: buildImageTokenizerModel,
    vaeEncoder: buildVaeEncoderModel,
    scorers: { 'colourfulness.onnx': buildColourfulnessModel },
  };
}

export const REFERENCE_PACK: PackSpec = referencePack();

/**
 * Writes a model pack (manifest, ONNX models, tokenizer) into `outDir`. Every byte is
 * derived from code, so the same source always builds the same pack.
 */
export async function buildPack(outDir: string, spec: PackSpec): Promise<{ dir: string; bytes: number }> {
  await mkdir(outDir, { recursive: true });
  const { manifest } = spec;
  const named = (field: string, build: (() => Uint8Array) | undefined): (() => Uint8Array) => {
    if (!build) throw new Error(`pack ${manifest.name} names ${field} but builds none`);
    return build;
  };
  const files: Array<[string, Uint8Array | string]> = [
    ['model.json', `${JSON.stringify(manifest, null, 2)}\n`],
    [manifest.planner.tokenizer, JSON.stringify(spec.tokenizer())],
    [manifest.planner.model, spec.planner()],
    [manifest.decoder.denoiser, spec.denoiser()],
    [manifest.decoder.vaeDecoder, spec.vaeDecoder()],
  ];
  if (manifest.preview) files.push([manifest.preview.model, named('a preview model', spec.preview)()]);
  // Reference images (image-to-image): the planner's tokenizer and the decoder's encoder.
  const { imageTokenizer } = manifest.planner;
  if (imageTokenizer) files.push([imageTokenizer.model, named('an image tokenizer', spec.imageTokenizer)()]);
  const { reference } = manifest.decoder;
  if (reference) files.push([reference.vaeEncoder, named('a VAE encoder', spec.vaeEncoder)()]);
  for (const scorer of manifest.scorers ?? []) {
    if (scorer.type !== 'onnx') continue;
    files.push([scorer.model, named(`scorer model ${scorer.model}`, spec.scorers?.[scorer.model])()]);
  }

  let bytes = 0;
  for (const [name, content] of files) {
    await writeFile(join(outDir, name), content);
    bytes += typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength;
  }
  return { dir: outDir, bytes };
}

/** Writes the reference model pack into `outDir` (without reference-image support if asked). */
export function buildReferencePack(
  outDir: string,
  options: ReferencePackOptions = {},
): Promise<{ dir: string; bytes: number }> {
  return buildPack(outDir, referencePack(options));
}
