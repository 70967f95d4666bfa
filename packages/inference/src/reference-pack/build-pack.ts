import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildDenoiserModel } from './denoiser-model.ts';
import { buildImageTokenizerModel } from './image-tokenizer-model.ts';
import { buildPlannerModel } from './planner-model.ts';
import { buildPreviewModel } from './preview-model.ts';
import { REFERENCE_MANIFEST } from './reference-manifest.ts';
import { buildTokenizerJson } from './tokenizer-json.ts';
import { buildVaeDecoderModel } from './vae-decoder-model.ts';
import { buildVaeEncoderModel } from './vae-encoder-model.ts';

/**
 * Writes the reference model pack (manifest, ONNX models, tokenizer) into `outDir`.
 * Every byte is derived from code, so the same source always builds the same pack.
 */
export async function buildReferencePack(outDir: string): Promise<{ dir: string; bytes: number }> {
  await mkdir(outDir, { recursive: true });
  const manifest = REFERENCE_MANIFEST;
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
