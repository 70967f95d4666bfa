import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeRgb, planarToRgb8 } from './image-encoding.ts';

describe('planarToRgb8', () => {
  it('maps [-1, 1] planar RGB to interleaved bytes, clamping and rounding', () => {
    // Two pixels; planes R, G, B.
    const planar = Float32Array.from([-1, 1, 0, 2, -3, Number.NaN]);
    expect(Array.from(planarToRgb8(planar, 2, 1, 'signed'))).toEqual([0, 128, 0, 255, 255, 0]);
  });

  it('maps [0, 1] planar RGB', () => {
    expect(Array.from(planarToRgb8(Float32Array.from([1, 0.5, 0]), 1, 1, 'unit'))).toEqual([255, 128, 0]);
  });

  it('checks the size', () => {
    expect(() => planarToRgb8(new Float32Array(5), 1, 1, 'unit')).toThrow(RangeError);
  });
});

describe('encodeRgb', () => {
  const rgb = new Uint8Array(3 * 8 * 4).map((_, i) => (i * 37) % 256);

  it('encodes PNG losslessly and the same pixels to the same bytes', async () => {
    const a = await encodeRgb(rgb, 8, 4, 'png');
    const b = await encodeRgb(rgb, 8, 4, 'png');
    expect(a.equals(b)).toBe(true);
    const back = await sharp(a).raw().toBuffer();
    expect(Buffer.from(rgb).equals(back)).toBe(true);
  });

  it('encodes WebP and JPEG of the right size', async () => {
    for (const format of ['webp', 'jpeg'] as const) {
      const meta = await sharp(await encodeRgb(rgb, 8, 4, format)).metadata();
      expect(meta).toMatchObject({ format, width: 8, height: 4 });
    }
  });
});
