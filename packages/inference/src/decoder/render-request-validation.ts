import { UnsupportedFeatureError } from '@glm-image/shared/errors';
import { InvalidInputError } from '../errors.ts';
import type { ModelPackManifest } from '../model-pack-manifest.ts';
import { MAX_REFERENCE_IMAGES } from '../reference-images/reference-image.ts';
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
  /** Reference images, decoded to the output size (Decoder.render fills this in). */
  references?: ResolvedReference[];
}

export interface ResolvedReference {
  tokens: TokenGrid;
  /** Planar RGB [3, height, width] in [-1, 1], at the output size. */
  pixels: Float32Array;
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
  checkReferences(manifest, req);
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

/** Reference images need a pack that reads them, and tokens of the output's aspect. */
function checkReferences(manifest: ModelPackManifest, req: RenderRequest): void {
  const references = req.references ?? [];
  if (references.length === 0) return;
  if (!manifest.decoder.reference) {
    throw new UnsupportedFeatureError(
      `reference images: model pack ${manifest.name} cannot condition on them (its manifest has no decoder.reference)`,
    );
  }
  if (references.length > MAX_REFERENCE_IMAGES) {
    throw new InvalidInputError(
      'references',
      `at most ${MAX_REFERENCE_IMAGES} reference images, got ${references.length}`,
    );
  }
  const { codebookSize } = manifest.planner.imageVocab;
  references.forEach(({ image, tokens }, i) => {
    const field = `references[${i}]`;
    if (!(image instanceof Uint8Array) || image.byteLength === 0) {
      throw new InvalidInputError(field, 'needs the image bytes');
    }
    const sideOk = (n: number) => Number.isInteger(n) && n >= 1;
    if (
      !sideOk(tokens?.rows) ||
      !sideOk(tokens.cols) ||
      tokens.tokens?.length !== tokens.rows * tokens.cols
    ) {
      throw new InvalidInputError(field, 'needs a token grid with rows x cols tokens');
    }
    if (tokens.rows * req.width !== tokens.cols * req.height) {
      throw new InvalidInputError(
        field,
        `a ${tokens.rows}x${tokens.cols} token grid does not have the aspect of ${req.width}x${req.height}`,
      );
    }
    const bad = tokens.tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= codebookSize);
    if (bad >= 0)
      throw new InvalidInputError(field, `token ${bad} is ${tokens.tokens[bad]}, not a codebook index`);
  });
}
