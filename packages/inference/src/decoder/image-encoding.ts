import { CONTENT_TYPES } from '@glm-image/shared/formats';
import sharp from 'sharp';
import type { ImageFormat } from './render-request.ts';

export { CONTENT_TYPES };

/**
 * Planar float RGB ([3, H, W], values in `range`) to interleaved 8-bit RGB, rounding
 * half up after clamping, as diffusers' `(x / 2 + 0.5).clamp(0, 1) * 255` then round.
 */
export function planarToRgb8(
  planar: Float32Array,
  width: number,
  height: number,
  range: 'signed' | 'unit',
): Uint8Array {
  const plane = width * height;
  if (planar.length !== 3 * plane)
    throw new RangeError(`expected ${3 * plane} values for ${width}x${height} RGB, got ${planar.length}`);
  const rgb = new Uint8Array(3 * plane);
  for (let channel = 0; channel < 3; channel += 1) {
    const offset = channel * plane;
    for (let p = 0; p < plane; p += 1) {
      const v = planar[offset + p] as number;
      const unit = range === 'signed' ? v * 0.5 + 0.5 : v;
      const clamped = Math.min(1, Math.max(0, unit)); // NaN stays NaN, which a Uint8Array stores as 0
      rgb[3 * p + channel] = Math.round(clamped * 255);
    }
  }
  return rgb;
}

/**
 * Encodes 8-bit RGB. Settings are fixed so that the same pixels always give the same
 * bytes: no metadata, no timestamps, one deterministic encoder per format.
 */
export async function encodeRgb(
  rgb: Uint8Array,
  width: number,
  height: number,
  format: ImageFormat,
): Promise<Buffer> {
  const image = sharp(rgb, { raw: { width, height, channels: 3 } });
  switch (format) {
    case 'png':
      return image.png({ compressionLevel: 6, adaptiveFiltering: false }).toBuffer();
    case 'webp':
      return image.webp({ quality: 90, effort: 4 }).toBuffer();
    case 'jpeg':
      return image.jpeg({ quality: 90, mozjpeg: false }).toBuffer();
  }
}
