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
