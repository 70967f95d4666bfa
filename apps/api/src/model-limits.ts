import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelPackManifest, supportsReferenceImages } from '@glm-image/inference/model-pack-manifest';
import { InvalidInputError } from '@glm-image/shared/errors';

/**
 * What the API needs to know about the model pack: the sizes it accepts and the
 * defaults it fills in. The API never runs a model, so it reads only the manifest
 * and not the ONNX files beside it.
 */
export interface ModelLimits {
  packName: string;
  sizes: { multiple: number; min: number; max: number; maxAspectRatio: number };
  defaults: {
    width: number;
    height: number;
    steps: number;
    guidance_scale: number;
    temperature: number;
    top_p: number;
  };
  /** Whether the pack takes reference images (image-to-image). */
  referenceImages: boolean;
}

export class ModelPackUnreadableError extends Error {
  readonly code = 'model_pack_unreadable';
  constructor(
    readonly packPath: string,
    cause: unknown,
  ) {
    super(`cannot read the model pack manifest at ${packPath}/model.json: ${String(cause)}`, { cause });
    this.name = 'ModelPackUnreadableError';
  }
}

export function modelLimitsFromManifest(manifest: ModelPackManifest): ModelLimits {
  const { sizes, planner, decoder } = manifest;
  return {
    packName: manifest.name,
    sizes: { multiple: sizes.multiple, min: sizes.min, max: sizes.max, maxAspectRatio: sizes.maxAspectRatio },
    defaults: {
      width: sizes.default.width,
      height: sizes.default.height,
      steps: decoder.defaultSteps,
      guidance_scale: decoder.defaultGuidanceScale,
      temperature: planner.sampling.temperature,
      top_p: planner.sampling.topP,
    },
    referenceImages: supportsReferenceImages(manifest),
  };
}

/** Reads `<packPath>/model.json`; a relative path is taken from the working directory. */
export async function loadModelLimits(packPath: string): Promise<ModelLimits> {
  const manifestPath = path.resolve(packPath, 'model.json');
  try {
    const manifest = ModelPackManifest.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
    return modelLimitsFromManifest(manifest);
  } catch (error) {
    throw new ModelPackUnreadableError(packPath, error);
  }
}

/** Throws InvalidInputError naming the field when the pack cannot serve this size. */
export function assertSizeServed(limits: ModelLimits, width: number, height: number): void {
  const { multiple, min, max, maxAspectRatio } = limits.sizes;
  for (const [field, value] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (value % multiple !== 0) throw new InvalidInputError(field, `must be a multiple of ${multiple}`);
    if (value < min || value > max) throw new InvalidInputError(field, `must be between ${min} and ${max}`);
  }
  const ratio = Math.max(width, height) / Math.min(width, height);
  if (ratio >= maxAspectRatio)
    throw new InvalidInputError('width/height', `aspect ratio must be below ${maxAspectRatio}`);
}
