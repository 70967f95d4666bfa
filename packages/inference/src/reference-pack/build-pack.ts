import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelPackManifest } from '../model-pack-manifest.ts';
import { buildColourfulnessModel } from './colourfulness-model.ts';
import { buildDenoiserModel } from './denoiser-model.ts';
import { buildPlannerModel } from './planner-model.ts';
import { buildPreviewModel } from './preview-model.ts';
import { REFERENCE_MANIFEST } from './reference-manifest.ts';
import { buildTokenizerJson } from './tokenizer-json.ts';
import { buildVaeDecoderModel } from './vae-decoder-model.ts';

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
  /** A builder per ONNX scorer model the manifest names, by file name. */
  scorers?: Record<string, () => Uint8Array>;
}

export const REFERENCE_PACK: PackSpec = {
  manifest: REFERENCE_MANIFEST,
  planner: buildPlannerModel,
  tokenizer: buildTokenizerJson,
  denoiser: buildDenoiserModel,
  vaeDecoder: buildVaeDecoderModel,
  preview: buildPreviewModel,
  scorers: { 'colourfulness.onnx': buildColourfulnessModel },
};

/**
 * Writes a model pack (manifest, ONNX models, tokenizer) into `outDir`. Every byte is
 * derived from code, so the same source always builds the same pack.
 */
export async function buildPack(outDir: string, spec: PackSpec): Promise<{ dir: string; bytes: number }> {
  await mkdir(outDir, { recursive: true });
  const { manifest } = spec;
  const files: Array<[string, Uint8Array | string]> = [
    ['model.json', `${JSON.stringify(manifest, null, 2)}\n`],
    [manifest.planner.tokenizer, JSON.stringify(spec.tokenizer())],
    [manifest.planner.model, spec.planner()],
    [manifest.decoder.denoiser, spec.denoiser()],
    [manifest.decoder.vaeDecoder, spec.vaeDecoder()],
  ];
  if (manifest.preview) {
    if (!spec.preview) throw new Error(`pack ${manifest.name} names a preview model but builds none`);
    files.push([manifest.preview.model, spec.preview()]);
  }
  for (const scorer of manifest.scorers ?? []) {
    if (scorer.type !== 'onnx') continue;
    const build = spec.scorers?.[scorer.model];
    if (!build) throw new Error(`pack ${manifest.name} names scorer model ${scorer.model} but builds none`);
    files.push([scorer.model, build()]);
  }

  let bytes = 0;
  for (const [name, content] of files) {
    await writeFile(join(outDir, name), content);
    bytes += typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength;
  }
  return { dir: outDir, bytes };
}

/** Writes the reference model pack into `outDir`. */
export function buildReferencePack(outDir: string): Promise<{ dir: string; bytes: number }> {
  return buildPack(outDir, REFERENCE_PACK);
}
