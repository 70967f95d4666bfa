/**
 * Looking at generated images the way a person would, for tests: the colour of a
 * region, and the text tesseract reads in it.
 */
import { spawn } from 'node:child_process';
import sharp from 'sharp';

/** A region in pixels. */
export interface PixelBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** A region in fractions of the image size: x, y of the top-left corner, width, height. */
export interface FractionBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

export async function toPixelBox(image: Buffer, box: FractionBox): Promise<PixelBox> {
  const { width = 0, height = 0 } = await sharp(image).metadata();
  return {
    left: Math.round(box.x * width),
    top: Math.round(box.y * height),
    width: Math.max(1, Math.round(box.w * width)),
    height: Math.max(1, Math.round(box.h * height)),
  };
}

/** Mean RGB of a region of an encoded image. */
export async function meanColour(image: Buffer, box: FractionBox): Promise<[number, number, number]> {
  const region = await toPixelBox(image, box);
  const { data, info } = await sharp(image)
    .extract(region)
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const sums = [0, 0, 0];
  for (let i = 0; i < data.length; i += info.channels) {
    for (let c = 0; c < 3; c += 1) sums[c]! += data[i + c]!;
  }
  const n = data.length / info.channels;
  return [sums[0]! / n, sums[1]! / n, sums[2]! / n];
}

/** Which of red, green and blue clearly dominates a colour, if any. */
export function dominantChannel([r, g, b]: [number, number, number]): 'red' | 'green' | 'blue' | null {
  if (r > g + 60 && r > b + 60) return 'red';
  if (g > r + 60 && g > b + 60) return 'green';
  if (b > r + 60 && b > g + 60) return 'blue';
  return null;
}

/** Ink height, in pixels, at which tesseract reads the reference font most reliably. */
const OCR_INK_HEIGHT = 22;

/**
 * Reads one line of text in `box` of an encoded image with tesseract (`--psm 7`). Only
 * near-black pixels (near-white with `inkIsLight`) count as ink; everything else,
 * coloured surroundings included, becomes paper. The ink is then scaled to print size
 * and softened: tesseract misreads the reference font's large square pixels otherwise.
 */
export async function readTextLine(
  image: Buffer,
  box: PixelBox | FractionBox,
  options: { inkIsLight?: boolean } = {},
): Promise<string> {
  const region = 'left' in box ? box : await toPixelBox(image, box);
  const { data, info } = await sharp(image).extract(region).raw().toBuffer({ resolveWithObject: true });
  const page = Buffer.alloc(info.width * info.height);
  let [left, top, right, bottom] = [info.width, info.height, -1, -1];
  for (let p = 0; p < page.length; p += 1) {
    const i = p * info.channels;
    const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
    const ink = options.inkIsLight ? Math.min(r, g, b) > 155 : Math.max(r, g, b) < 100;
    page[p] = ink ? 0 : 255;
    if (!ink) continue;
    const [x, y] = [p % info.width, Math.floor(p / info.width)];
    [left, top, right, bottom] = [
      Math.min(left, x),
      Math.min(top, y),
      Math.max(right, x),
      Math.max(bottom, y),
    ];
  }
  if (right < 0) return '';
  const [inkWidth, inkHeight] = [right - left + 1, bottom - top + 1];
  const line = await sharp(page, { raw: { width: info.width, height: info.height, channels: 1 } })
    .extract({ left, top, width: inkWidth, height: inkHeight })
    .resize({ width: Math.max(1, Math.round((inkWidth * OCR_INK_HEIGHT) / inkHeight)) })
    .blur(1)
    .extend({ top: 20, bottom: 20, left: 20, right: 20, background: 'white' })
    .png()
    .toBuffer();
  return (await tesseract(line)).trim();
}

function tesseract(png: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('tesseract', ['stdin', 'stdout', '--psm', '7'], {
      env: { ...process.env, OMP_THREAD_LIMIT: '1' },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`tesseract exited ${code}`)),
    );
    child.stdin.end(png);
  });
}
