/**
 * Reference images (image-to-image): what the system accepts as one, read from its bytes
 * alone, and the pixels the models see. The API checks each image with `inspectReferenceImage`
 * before it accepts a request; the workers turn the stored bytes into model input with
 * `referencePixels`. One definition of both, so they cannot disagree.
 */
import type { OutputFormat } from '@glm-image/shared/formats';
import sharp from 'sharp';
import { InvalidInputError } from '../errors.ts';

/** Images one request may carry, as hosted image APIs allow. */
export const MAX_REFERENCE_IMAGES = 4;

export interface ReferenceImageLimits {
  /** Largest encoded size, in bytes. */
  maxBytes: number;
  /** Smallest side, in pixels. */
  minSide: number;
  /** Largest side, in pixels. */
  maxSide: number;
}

/** 8 MiB, 64 to 4096 pixels a side. */
export const DEFAULT_REFERENCE_IMAGE_LIMITS: ReferenceImageLimits = {
  maxBytes: 8 * 1024 * 1024,
  minSide: 64,
  maxSide: 4096,
};

/** A reference image as inspected: its format (read from its bytes), size and pixel dimensions. */
export interface ReferenceImageInfo {
  format: OutputFormat;
  bytes: number;
  width: number;
  height: number;
}

/** The format the bytes are in, by their signature; null unless PNG, JPEG or WebP. */
export function sniffImageFormat(bytes: Uint8Array): OutputFormat | null {
  const at = (offset: number, signature: number[]) => signature.every((b, i) => bytes[offset + i] === b);
  if (at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (at(0, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (at(0, [0x52, 0x49, 0x46, 0x46]) && at(8, [0x57, 0x45, 0x42, 0x50])) return 'webp'; // RIFF....WEBP
  return null;
}

const SHARP_FORMATS: Record<string, OutputFormat> = { png: 'png', jpeg: 'jpeg', webp: 'webp' };

/**
 * Checks that `bytes` are one usable reference image: not too large, PNG, JPEG or WebP by
 * content (a name or declared type proves nothing), with sides within the limits, and
 * decodable to the last pixel (a truncated file is refused, not half used). Throws
 * InvalidInputError naming `field` and the problem.
 */
export async function inspectReferenceImage(
  bytes: Uint8Array,
  field: string,
  limits: ReferenceImageLimits = DEFAULT_REFERENCE_IMAGE_LIMITS,
): Promise<ReferenceImageInfo> {
  if (bytes.byteLength === 0) throw new InvalidInputError(field, 'is empty');
  if (bytes.byteLength > limits.maxBytes) {
    throw new InvalidInputError(
      field,
      `is ${bytes.byteLength} bytes; an image may have at most ${limits.maxBytes} bytes`,
    );
  }
  const format = sniffImageFormat(bytes);
  if (!format) throw new InvalidInputError(field, 'is not an image: PNG, JPEG or WebP data is needed');
  let width: number | undefined;
  let height: number | undefined;
  try {
    const meta = await sharp(bytes).metadata();
    if (SHARP_FORMATS[meta.format ?? ''] !== format) throw new Error(`read as ${meta.format}`);
    ({ width, height } = meta);
  } catch (error) {
    throw undecodable(field, format, error);
  }
  if (!width || !height)
    throw new InvalidInputError(field, `is a ${format.toUpperCase()} image without a size`);
  if (Math.min(width, height) < limits.minSide || Math.max(width, height) > limits.maxSide) {
    throw new InvalidInputError(
      field,
      `is ${width}x${height} pixels; each side must be between ${limits.minSide} and ${limits.maxSide}`,
    );
  }
  try {
    // Statistics read every pixel, streaming: libvips fails on a truncated file only once
    // it reaches the missing part, which a resized read may never do.
    await sharp(bytes, { failOn: 'truncated', limitInputPixels: limits.maxSide * limits.maxSide }).stats();
  } catch (error) {
    throw undecodable(field, format, error);
  }
  return { format, bytes: bytes.byteLength, width, height };
}

function undecodable(field: string, format: OutputFormat, error: unknown): InvalidInputError {
  return new InvalidInputError(
    field,
    `cannot be decoded: the ${format.toUpperCase()} data is truncated or corrupt (${reason(error)})`,
  );
}

function reason(error: unknown): string {
  return ((error as Error)?.message ?? String(error)).split('\n')[0]!.trim();
}

/**
 * The reference as the models see it: scaled to cover `width` x `height` and cropped to
 * it from the centre (the aspect ratio kept), turned upright by its EXIF orientation,
 * transparency laid on white, as planar float RGB [3, H, W] in `range`
 * ('unit' [0, 1] for the image tokenizer, 'signed' [-1, 1] for the VAE encoder).
 */
export async function referencePixels(
  bytes: Uint8Array,
  width: number,
  height: number,
  range: 'unit' | 'signed',
): Promise<Float32Array> {
  let rgb: Buffer;
  try {
    rgb = await sharp(bytes, { failOn: 'truncated' })
      .rotate()
      .flatten({ background: '#ffffff' })
      .resize(width, height, { fit: 'cover', position: 'centre' })
      .removeAlpha()
      .raw()
      .toBuffer();
  } catch (error) {
    throw new InvalidInputError('reference image', `cannot be decoded (${reason(error)})`);
  }
  const plane = width * height;
  const planar = new Float32Array(3 * plane);
  const [scale, offset] = range === 'unit' ? [1 / 255, 0] : [2 / 255, -1];
  for (let p = 0; p < plane; p += 1) {
    for (let c = 0; c < 3; c += 1) planar[c * plane + p] = (rgb[3 * p + c] as number) * scale + offset;
  }
  return planar;
}
