/** Looks at images the way a person would: colours of regions, and text read by OCR. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';

const run = promisify(execFile);

/** A region in fractions of the image: x, y of the top-left corner, width, height. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

async function crop(image: Buffer, box: Box) {
  const { width = 0, height = 0 } = await sharp(image).metadata();
  const region = {
    left: Math.round(box.x * width),
    top: Math.round(box.y * height),
    width: Math.max(1, Math.round(box.w * width)),
    height: Math.max(1, Math.round(box.h * height)),
  };
  return sharp(image).extract(region).removeAlpha();
}

/** Mean RGB of a region. */
export async function meanColour(image: Buffer, box: Box): Promise<[number, number, number]> {
  const { data, info } = await (await crop(image, box)).raw().toBuffer({ resolveWithObject: true });
  const sums = [0, 0, 0];
  for (let i = 0; i < data.length; i += info.channels) {
    sums[0]! += data[i]!;
    sums[1]! += data[i + 1]!;
    sums[2]! += data[i + 2]!;
  }
  const n = data.length / info.channels;
  return [sums[0]! / n, sums[1]! / n, sums[2]! / n];
}

/** Which of red, green, blue clearly dominates a colour, if any. */
export function dominantChannel([r, g, b]: [number, number, number]): 'red' | 'green' | 'blue' | null {
  if (r > g + 60 && r > b + 60) return 'red';
  if (g > r + 60 && g > b + 60) return 'green';
  if (b > r + 60 && b > g + 60) return 'blue';
  return null;
}

/**
 * Text tesseract reads in a region, as one line. The crop is binarised to dark text on
 * white, then padded, halved and softened: tesseract reads blocky pixel fonts best at
 * glyphs of about 25 pixels.
 */
export async function readText(image: Buffer, box: Box): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'glm-ocr-'));
  try {
    const file = join(dir, 'line.png');
    const { data, info } = await (await crop(image, box))
      .greyscale()
      .threshold(128)
      .raw()
      .toBuffer({ resolveWithObject: true });
    const line = await sharp(data, { raw: { width: info.width, height: info.height, channels: 1 } })
      .extend({ top: 32, bottom: 32, left: 32, right: 32, background: '#ffffff' })
      .resize(Math.round((info.width + 64) / 2))
      .blur(1)
      .png()
      .toBuffer();
    await writeFile(file, line);
    const { stdout } = await run('tesseract', [file, 'stdout', '--psm', '7'], { timeout: 30_000 });
    return stdout.trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
