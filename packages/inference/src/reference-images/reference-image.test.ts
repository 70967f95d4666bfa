import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../errors.ts';
import { inspectReferenceImage, referencePixels, sniffImageFormat } from './reference-image.ts';

const picture = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 20 } } });

async function problem(bytes: Uint8Array, limits?: Parameters<typeof inspectReferenceImage>[2]) {
  const error = await inspectReferenceImage(bytes, 'reference_images[2]', limits).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidInputError);
  expect((error as InvalidInputError).field).toBe('reference_images[2]');
  return (error as InvalidInputError).problem;
}

describe('reference images', () => {
  it('reads the format from the bytes, whatever they are called', async () => {
    expect(sniffImageFormat(await picture(8, 8).png().toBuffer())).toBe('png');
    expect(sniffImageFormat(await picture(8, 8).jpeg().toBuffer())).toBe('jpeg');
    expect(sniffImageFormat(await picture(8, 8).webp().toBuffer())).toBe('webp');
    expect(sniffImageFormat(await picture(8, 8).gif().toBuffer())).toBeNull();
    expect(sniffImageFormat(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeNull();
  });

  it('accepts PNG, JPEG and WebP within the limits, with their size', async () => {
    for (const format of ['png', 'jpeg', 'webp'] as const) {
      const bytes = await picture(300, 200)[format]().toBuffer();
      expect(await inspectReferenceImage(bytes, 'x')).toEqual({
        format,
        bytes: bytes.byteLength,
        width: 300,
        height: 200,
      });
    }
  });

  it('names the problem: not an image, truncated, too many bytes, too few or too many pixels', async () => {
    expect(await problem(Buffer.from('GIF89a, or anything else'))).toMatch(/not an image/);
    expect(await problem(await picture(64, 64).gif().toBuffer())).toMatch(/not an image/);
    expect(await problem(new Uint8Array())).toMatch(/empty/);
    for (const format of ['png', 'jpeg', 'webp'] as const) {
      const whole = await sharp({
        create: {
          width: 256,
          height: 256,
          channels: 3,
          background: 'black',
          noise: { type: 'gaussian', mean: 128, sigma: 40 },
        },
      })
        [format]()
        .toBuffer();
      expect(await problem(whole.subarray(0, Math.floor(whole.byteLength * 0.6)))).toMatch(
        /truncated or corrupt/,
      );
    }
    const png = await picture(100, 100).png().toBuffer();
    expect(await problem(png, { maxBytes: png.byteLength - 1, minSide: 64, maxSide: 4096 })).toMatch(
      new RegExp(`${png.byteLength} bytes`),
    );
    expect(await problem(await picture(32, 100).png().toBuffer())).toMatch(/32x100 pixels/);
    expect(await problem(await picture(4097, 64).png().toBuffer())).toMatch(/4097x64 pixels/);
  });

  it('gives the models the picture scaled to cover the size, cropped from the centre', async () => {
    // Left third black, the rest white: cropped to a square from the centre, it is all white.
    const wide = await sharp({ create: { width: 300, height: 100, channels: 3, background: 'white' } })
      .composite([{ input: await picture(100, 100).png().toBuffer(), left: 0, top: 0 }])
      .png()
      .toBuffer();
    const pixels = await referencePixels(wide, 64, 64, 'signed');
    expect(pixels).toHaveLength(3 * 64 * 64);
    expect(Math.min(...pixels)).toBeGreaterThan(0.8);
    const unit = await referencePixels(await picture(64, 64).png().toBuffer(), 32, 32, 'unit');
    expect(unit[0]).toBeCloseTo(200 / 255, 2);
    expect(unit[2 * 32 * 32]).toBeCloseTo(20 / 255, 2);
  });
});
