import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ReferenceImageError,
  referenceImage,
  referenceImageFromFile,
  referenceMediaType,
} from './reference-images.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'glm-references-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The first bytes of each format, as their specifications fix them; the API judges the rest. */
const HEADS = {
  png: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52],
  jpeg: [0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0],
  webp: [0x52, 0x49, 0x46, 0x46, 26, 0, 0, 0, 0x57, 0x45, 0x42, 0x50, 0x56, 0x50, 0x38, 0x20],
  gif: [0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0],
};
const image = (format: keyof typeof HEADS) => Buffer.from([...HEADS[format], ...Array(300).keys()]);

describe('reference images', () => {
  it('types the bytes by their content', () => {
    for (const [format, type] of [
      ['png', 'image/png'],
      ['jpeg', 'image/jpeg'],
      ['webp', 'image/webp'],
    ] as const) {
      const bytes = image(format);
      expect(referenceMediaType(bytes)).toBe(type);
      const url = referenceImage(bytes);
      expect(url.startsWith(`data:${type};base64,`)).toBe(true);
      expect(Buffer.from(url.slice(url.indexOf(',') + 1), 'base64').equals(bytes)).toBe(true);
    }
    const gif = image('gif');
    expect(referenceMediaType(gif)).toBeNull();
    expect(() => referenceImage(gif)).toThrow(ReferenceImageError);
    expect(() => referenceImage(new Uint8Array())).toThrow('not a PNG, JPEG or WebP image');
  });

  it('reads a file whatever it is called, and names the path when it is missing or not an image', async () => {
    const jpeg = image('jpeg');
    const misnamed = join(dir, 'photo.png');
    await writeFile(misnamed, jpeg);
    expect((await referenceImageFromFile(misnamed)).startsWith('data:image/jpeg;base64,')).toBe(true);

    const text = join(dir, 'notes.png');
    await writeFile(text, 'not an image');
    await expect(referenceImageFromFile(text)).rejects.toThrow(`${text}: not a PNG, JPEG or WebP image`);
    const missing = join(dir, 'missing.png');
    await expect(referenceImageFromFile(missing)).rejects.toThrow(
      new ReferenceImageError(`${missing}: no such file`),
    );
  });
});
