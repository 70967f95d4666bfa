import type { ModelPackManifest } from '../model-pack-manifest.ts';
import { mainGridSize, previewGridSize } from '../sizes.ts';

export interface PlanLayout {
  main: { rows: number; cols: number };
  preview: { rows: number; cols: number };
  /** Tokens the planner must generate: preview then main grid (the end-of-image token is not sampled). */
  totalTokens: number;
}

/** Grid sizes for one image size, from the pack's grid rules. */
export function planLayout(manifest: ModelPackManifest, width: number, height: number): PlanLayout {
  const main = mainGridSize(manifest, width, height);
  const preview = previewGridSize(manifest, width, height);
  return { main, preview, totalTokens: main.rows * main.cols + preview.rows * preview.cols };
}

/**
 * GLM-Image's text-to-image prompt: the prompt, then the main and preview grid sizes
 * (rows then cols) each between start/end-of-prompt markers, then begin-of-image:
 * `{prompt}<sop>{h} {w}<eop><sop>{ph} {pw}<eop><|begin_of_image|>`.
 */
export function buildPromptText(manifest: ModelPackManifest, prompt: string, layout: PlanLayout): string {
  const { startOfPrompt: sop, endOfPrompt: eop, beginOfImage } = manifest.planner.specialTokens;
  const { main, preview } = layout;
  return `${prompt}${sop}${main.rows} ${main.cols}${eop}${sop}${preview.rows} ${preview.cols}${eop}${beginOfImage}`;
}

/** Ids the prompt is built from: the text's, and the image markers'. */
export interface PromptIdsSource {
  encode(text: string): number[];
  beginOfImageId: number;
  endOfImageId: number;
}

/**
 * The prompt's ids. Without references, the text prompt's (see buildPromptText). With
 * reference images, each one's tokens come first, as image ids between begin- and
 * end-of-image markers, the way GLM-Image's processor puts a source image ahead of the
 * text: `<|begin_of_image|>{reference}<|end_of_image|>...{prompt}<sop>...<|begin_of_image|>`.
 */
export function buildPromptIds(
  source: PromptIdsSource,
  manifest: ModelPackManifest,
  prompt: string,
  layout: PlanLayout,
  references: readonly (readonly number[])[] = [],
): number[] {
  const { firstTokenId } = manifest.planner.imageVocab;
  const ids: number[] = [];
  for (const reference of references) {
    ids.push(source.beginOfImageId);
    for (const token of reference) ids.push(firstTokenId + token);
    ids.push(source.endOfImageId);
  }
  ids.push(...source.encode(buildPromptText(manifest, prompt, layout)));
  return ids;
}
