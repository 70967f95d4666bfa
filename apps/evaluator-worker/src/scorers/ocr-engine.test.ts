import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Decoder, loadModelPack, Planner } from '@glm-image/inference';
import { referencePackPath } from '@glm-image/testing/worker-fixture';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { englishLanguagePath, OcrEngine } from './ocr-engine.ts';
import { readImage } from './text-legibility.ts';

/**
 * The OCR engine reads its language data from the npm package's folder, never from the
 * network, and caches nothing to disk. (Run under `unshare -rn`, with no network at all,
 * it reads the same.)
 */

let ocr: OcrEngine;
beforeAll(async () => {
  ocr = await OcrEngine.start();
});
afterAll(async () => {
  await ocr?.close();
});

/** A sign drawn by the reference pack's planner and decoder. */
async function sign(text: string): Promise<Buffer> {
  const pack = await loadModelPack(await referencePackPath());
  const [planner, decoder] = await Promise.all([Planner.load(pack), Decoder.load(pack)]);
  try {
    const prompt = `a blue wall with a sign "${text}"`;
    const plan = await planner.plan({ prompt, width: 512, height: 512, seed: 1 });
    const rendered = await decoder.render({
      prompt,
      main: plan.main,
      width: 512,
      height: 512,
      seed: 1,
      steps: 2,
    });
    return rendered.image;
  } finally {
    await Promise.allSettled([planner.close(), decoder.close()]);
  }
}

describe('OCR engine', () => {
  it('takes its English model from the package folder, a path on disk', () => {
    const dir = englishLanguagePath();
    expect(/^https?:/.test(dir)).toBe(false);
    expect(statSync(join(dir, 'eng.traineddata.gz')).size).toBeGreaterThan(1_000_000);
  });

  it('reads a sign, in any output format, and leaves no cached model behind', async () => {
    const png = await sign('FRESH BREAD');
    expect(await readImage(ocr, png)).toContain('FRESH BREAD');
    const webp = await sharp(png).webp({ lossless: true }).toBuffer();
    expect(await readImage(ocr, webp)).toContain('FRESH BREAD');
    expect(existsSync(join(process.cwd(), 'eng.traineddata'))).toBe(false);
  });
});
