import { InvalidInputError } from './errors.ts';
import type { ModelPackManifest } from './model-pack-manifest.ts';

type SizeManifest = Pick<ModelPackManifest, 'sizes' | 'planner'>;

/** Throws InvalidInputError naming `width` or `height` unless the pack accepts this image size. */
export function validateImageSize(manifest: SizeManifest, width: number, height: number): void {
  const { multiple, min, max, maxAspectRatio } = manifest.sizes;
  for (const [field, value] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isInteger(value)) throw new InvalidInputError(field, `must be an integer, got ${value}`);
    if (value < min || value > max)
      throw new InvalidInputError(field, `must be between ${min} and ${max}, got ${value}`);
    if (value % multiple !== 0)
      throw new InvalidInputError(field, `must be a multiple of ${multiple}, got ${value}`);
  }
  const ratio = Math.max(width, height) / Math.min(width, height);
  if (ratio >= maxAspectRatio) {
    throw new InvalidInputError(
      width >= height ? 'width' : 'height',
      `aspect ratio ${width}x${height} must be below ${maxAspectRatio}:1`,
    );
  }
}

/** Main grid: H/mainPatch rows x W/mainPatch cols (1024x1024 -> 32x32). */
export function mainGridSize(
  manifest: SizeManifest,
  width: number,
  height: number,
): { rows: number; cols: number } {
  const patch = manifest.planner.grid.mainPatch;
  return { rows: Math.floor(height / patch), cols: Math.floor(width / patch) };
}

/**
 * Preview grid: floor(sqrt(H/W)*side) rows x floor(sqrt(W/H)*side) cols, about side^2
 * tokens whatever the aspect ratio (16x16 for a square, 13x19 for a 768x512 landscape image).
 * Computed in float64 exactly as upstream does, so both sides agree on the counts.
 */
export function previewGridSize(
  manifest: SizeManifest,
  width: number,
  height: number,
): { rows: number; cols: number } {
  const side = manifest.planner.grid.previewSide;
  return {
    rows: Math.floor(Math.sqrt(height / width) * side),
    cols: Math.floor(Math.sqrt(width / height) * side),
  };
}
