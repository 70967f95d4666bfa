import { InvalidInputError } from '../errors.ts';
import type { ModelPackManifest } from '../model-pack-manifest.ts';
import { mainGridSize, validateImageSize } from '../sizes.ts';
import type { ImageFormat, RenderRequest, TokenGrid } from './render-request.ts';

/** Upper bound on denoising steps: the schedule has 1000 distinct integer timesteps. */
export const MAX_STEPS = 1000;
export const MAX_GUIDANCE_SCALE = 100;
const FORMATS: readonly ImageFormat[] = ['png', 'webp', 'jpeg'];

/** A render request checked against the pack, with every default filled in. */
export interface ResolvedRenderRequest {
  prompt: string;
  main: TokenGrid;
  width: number;
  height: number;
  seed: number;
  steps: number;
  guidanceScale: number;
  format: ImageFormat;
}

/**
 * Checks a request before any model runs, so that a bad request fails fast with an
 * InvalidInputError naming the field, instead of as a model error halfway through.
 */
export function resolveRenderRequest(manifest: ModelPackManifest, req: RenderRequest): ResolvedRenderRequest {
  validateImageSize(manifest, req.width, req.height);
  if (typeof req.prompt !== 'string') throw new InvalidInputError('prompt', 'must be a string');
  if (!Number.isSafeInteger(req.seed) || req.seed < 0) {
    throw new InvalidInputError('seed', `must be a non-negative integer, got ${req.seed}`);
  }
  const steps = req.steps ?? manifest.decoder.defaultSteps;
  if (!Number.isInteger(steps) || steps < 1 || steps > MAX_STEPS) {
    throw new InvalidInputError('steps', `must be an integer from 1 to ${MAX_STEPS}, got ${steps}`);
  }
  const guidanceScale = req.guidanceScale ?? manifest.decoder.defaultGuidanceScale;
  if (!Number.isFinite(guidanceScale) || guidanceScale < 0 || guidanceScale > MAX_GUIDANCE_SCALE) {
    throw new InvalidInputError(
      'guidanceScale',
      `must be between 0 and ${MAX_GUIDANCE_SCALE}, got ${guidanceScale}`,
    );
  }
  const format = req.format ?? 'png';
  if (!FORMATS.includes(format))
    throw new InvalidInputError('format', `must be one of ${FORMATS.join(', ')}, got ${format}`);
  checkMainGrid(manifest, req.main, req.width, req.height);
  return {
    prompt: req.prompt,
    main: req.main,
    width: req.width,
    height: req.height,
    seed: req.seed,
    steps,
    guidanceScale,
    format,
  };
}

function checkMainGrid(manifest: ModelPackManifest, main: TokenGrid, width: number, height: number): void {
  const expected = mainGridSize(manifest, width, height);
  if (main?.rows !== expected.rows || main.cols !== expected.cols) {
    throw new InvalidInputError(
      'main',
      `a ${width}x${height} image needs a ${expected.rows}x${expected.cols} token grid, got ${main?.rows}x${main?.cols}`,
    );
  }
  if (!Array.isArray(main.tokens) || main.tokens.length !== main.rows * main.cols) {
    throw new InvalidInputError('main', `needs ${main.rows * main.cols} tokens, got ${main.tokens?.length}`);
  }
  const { codebookSize } = manifest.planner.imageVocab;
  const bad = main.tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= codebookSize);
  if (bad >= 0) {
    throw new InvalidInputError(
      'main',
      `token ${bad} is ${main.tokens[bad]}, not a codebook index 0..${codebookSize - 1}`,
    );
  }
}
