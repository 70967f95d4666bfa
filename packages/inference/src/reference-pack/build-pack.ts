import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelPackManifest } from '../model-pack-manifest.ts';
import { buildDenoiserModel } from './denoiser-model.ts';
import { buildImageTokenizerModel } from './image-tokenizer-model.ts';
import { buildPlannerModel } from './planner-model.ts';
import { buildPreviewModel } from './preview-model.ts';
import { REFERENCE_MANIFEST } from './reference-manifest.ts';
import { buildTokenizerJson } from './tokenizer-json.ts';
import { buildVaeDecoderModel } from './vae-decoder-model.ts';
import { buildVaeEncoderModel } from './vae-encoder-model.ts';

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
  if (options.referenceImages ?? true) return REFERENCE_MANIFEST;
  const { imageTokenizer: _tokenizer, ...planner } = REFERENCE_MANIFEST.planner;
  const { reference: _reference, ...decoder } = REFERENCE_MANIFEST.decoder;
  return { ...REFERENCE_MANIFEST, planner, decoder };
}

/**
 * Writes the reference model pack (manifest, ONNX models, tokenizer) into `outDir`.
 * Every byte is derived from code, so the same source always builds the same pack.
 */
export async function buildReferencePack(
  outDir: string,
  options: ReferencePackOptions = {},
): Promise<{ dir: string; bytes: number }> {
  await mkdir(outDir, { recursive: true });
  const manifest = referencePackManifest(options);
  const files: Array<[string, Uint8Array | string]> = [
    ['model.json', `${JSON.stringify(manifest, null, 2)}\n`],
    [manifest.planner.tokenizer, JSON.stringify(buildTokenizerJson())],
    [manifest.planner.model, buildPlannerModel()],
    [manifest.decoder.denoiser, buildDenoiserModel({ referenceCache: manifest.decoder.reference?.cache })],
    [manifest.decoder.vaeDecoder, buildVaeDecoderModel()],
  ];
  if (manifest.preview) files.push([manifest.preview.model, buildPreviewModel()]);
  // Reference images (image-to-image): the planner's tokenizer and the decoder's encoder.
  if (manifest.planner.imageTokenizer) {
    files.push([manifest.planner.imageTokenizer.model, buildImageTokenizerModel()]);
  }
  if (manifest.decoder.reference) files.push([manifest.decoder.reference.vaeEncoder, buildVaeEncoderModel()]);

  let bytes = 0;
  for (const [name, content] of files) {
    await writeFile(join(outDir, name), content);
    bytes += typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength;
  }
  return { dir: outDir, bytes };
}
