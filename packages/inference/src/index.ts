/**
 * @glm-image/inference: the GLM-Image model runtime. Knows nothing of queues or HTTP;
 * usable on its own (see the `generate` command).
 */

export type {
  ImageFormat,
  ReferenceImageInput,
  RenderOptions,
  RenderRequest,
  RenderResult,
} from './decoder/decoder.ts';
export { Decoder } from './decoder/decoder.ts';
export { encodeGlyphs, extractQuotedSpans } from './decoder/glyphs.ts';
export { PreviewRenderer } from './decoder/preview-renderer.ts';
export {
  AppError,
  CanceledError,
  InvalidInputError,
  ModelError,
  ModelPackError,
} from './errors.ts';
export type { ExecutionOptions } from './execution/execution-options.ts';
export type { ModelPack } from './model-pack.ts';
export { loadModelPack } from './model-pack.ts';
export { ModelPackManifest, type ScorerEntry, supportsReferenceImages } from './model-pack-manifest.ts';
export { ImageTokenizer } from './planner/image-tokenizer.ts';
export type {
  BatchStats,
  PlannerSettings,
  PlannerStats,
  PlanOptions,
  PlanRequest,
  PlanResult,
  TokenGrid,
} from './planner/planner.ts';
export { Planner } from './planner/planner.ts';
export {
  DEFAULT_REFERENCE_IMAGE_LIMITS,
  inspectReferenceImage,
  MAX_REFERENCE_IMAGES,
  type ReferenceImageInfo,
  type ReferenceImageLimits,
  referencePixels,
  sniffImageFormat,
} from './reference-images/reference-image.ts';
export { ImageScorers } from './scoring/image-scorers.ts';
export { mainGridSize, previewGridSize, validateImageSize } from './sizes.ts';
