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

/** Where pixels of one dominant channel lie in an image, in fractions of its size. */
export interface ColourRegion {
  /** Share of the image's pixels. */
  fraction: number;
  /** Their mean position, or undefined when there are none. */
  centroid?: { x: number; y: number };
}

/** The pixels whose dominant channel (see dominantChannel) is `colour`. */
export async function colourRegion(image: Buffer, colour: 'red' | 'green' | 'blue'): Promise<ColourRegion> {
  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let [count, sumX, sumY] = [0, 0, 0];
  for (let p = 0; p < info.width * info.height; p += 1) {
    const i = p * info.channels;
    if (dominantChannel([data[i]!, data[i + 1]!, data[i + 2]!]) !== colour) continue;
    count += 1;
    sumX += (p % info.width) + 0.5;
    sumY += Math.floor(p / info.width) + 0.5;
  }
  const fraction = count / (info.width * info.height);
  if (count === 0) return { fraction };
  return { fraction, centroid: { x: sumX / count / info.width, y: sumY / count / info.height } };
}

/** A flat disc on a flat background, as a PNG: the simplest picture to edit. */
export async function discImage(options: {
  width: number;
  height: number;
  /** Centre and radius, in fractions of the width (x, radius) and height (y). */
  disc: { x: number; y: number; radius: number };
  fill: [number, number, number];
  background: [number, number, number];
}): Promise<Buffer> {
  const { width, height, disc, fill, background } = options;
  const rgb = (c: [number, number, number]) => `rgb(${c.join(',')})`;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="${width}" height="${height}" fill="${rgb(background)}"/>` +
    `<circle cx="${disc.x * width}" cy="${disc.y * height}" r="${disc.radius * width}" fill="${rgb(fill)}"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** Languages of the tesseract models `scripts/ensure-deps.sh` installs. */
export type OcrLanguage = 'eng' | 'chi_sim';

/** Ink height, in pixels, at which tesseract reads the reference font most reliably. */
const OCR_INK_HEIGHT: Record<OcrLanguage, number> = { eng: 28, chi_sim: 40 };

export interface TextLineOptions {
  inkIsLight?: boolean;
  language?: OcrLanguage;
}

/**
 * Reads one line of text in `box` of an encoded image with tesseract (`--psm 7`). Only
 * near-black pixels (near-white with `inkIsLight`) count as ink; everything else,
 * coloured surroundings included, becomes paper. The ink is then scaled to print size
 * and softened: tesseract misreads the reference font's large square pixels otherwise.
 */
export async function readTextLine(
  image: Buffer,
  box: PixelBox | FractionBox,
  options: TextLineOptions = {},
): Promise<string> {
  const language = options.language ?? 'eng';
  const line = await inkLine(image, box, options);
  if (!line) return '';
  const png = await sharp(line.data, { raw: { width: line.width, height: line.height, channels: 1 } })
    .extend({ top: MARGIN, bottom: MARGIN, left: MARGIN, right: MARGIN, background: 'white' })
    .png()
    .toBuffer();
  return tidy(await tesseract(png, language, ['--psm', '7']), language);
}

/**
 * Reads many single lines in one tesseract run, which is much cheaper than one run per
 * line: the prepared lines are stacked on one page, far apart, tesseract looks for words
 * anywhere on it (`--psm 11`), and each word is given back to the line its box lies in.
 */
export async function readTextLines(
  lines: ReadonlyArray<{ image: Buffer; box: PixelBox | FractionBox }>,
  options: TextLineOptions = {},
): Promise<string[]> {
  if (lines.length === 0) return [];
  const language = options.language ?? 'eng';
  const prepared = await Promise.all(lines.map((l) => inkLine(l.image, l.box, options)));
  const tops: number[] = [];
  let height = MARGIN;
  for (const line of prepared) {
    tops.push(height);
    height += (line?.height ?? 0) + LINE_GAP;
  }
  const width = Math.max(1, ...prepared.map((l) => l?.width ?? 0)) + 2 * MARGIN;
  const composites = prepared.flatMap((line, i) =>
    line
      ? [
          {
            input: line.data,
            raw: { width: line.width, height: line.height, channels: 1 as const },
            top: tops[i]!,
            left: MARGIN,
          },
        ]
      : [],
  );
  const page = await sharp({ create: { width, height: height + MARGIN, channels: 3, background: 'white' } })
    .composite(composites)
    .greyscale()
    .png()
    .toBuffer();
  const tsv = await tesseract(page, language, ['--psm', '11', 'tsv']);
  const words: Array<Array<{ left: number; text: string }>> = prepared.map(() => []);
  for (const row of tsv.split('\n').slice(1)) {
    const cells = row.split('\t');
    const text = cells[11]?.trim();
    if (cells[0] !== '5' || !text) continue;
    const [left, top, , h] = cells.slice(6, 10).map(Number) as [number, number, number, number];
    const centre = top + h / 2;
    const index = tops.findLastIndex((t) => t - LINE_GAP / 2 <= centre);
    words[Math.max(0, index)]?.push({ left, text });
  }
  return words.map((ws) =>
    tidy(
      ws
        .sort((a, b) => a.left - b.left)
        .map((w) => w.text)
        .join(' '),
      language,
    ),
  );
}

/** White paper around a line. */
const MARGIN = 20;
/** Paper between stacked lines: more than a line is tall, so none are read as one. */
const LINE_GAP = 60;

/** The binarised ink of `box`, cropped to the ink and scaled to print size (grey, 1 channel). */
async function inkLine(
  image: Buffer,
  box: PixelBox | FractionBox,
  options: TextLineOptions,
): Promise<{ data: Buffer; width: number; height: number } | undefined> {
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
  if (right < 0) return undefined;
  const [inkWidth, inkHeight] = [right - left + 1, bottom - top + 1];
  const inkHeightTarget = OCR_INK_HEIGHT[options.language ?? 'eng'];
  const { data: line, info: lineInfo } = await sharp(page, {
    raw: { width: info.width, height: info.height, channels: 1 },
  })
    .extract({ left, top, width: inkWidth, height: inkHeight })
    .resize({ width: Math.max(1, Math.round((inkWidth * inkHeightTarget) / inkHeight)) })
    .blur(1)
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: line, width: lineInfo.width, height: lineInfo.height };
}

/** tesseract separates CJK characters with spaces that are not in the text. */
function tidy(text: string, language: OcrLanguage): string {
  const trimmed = text.trim();
  return language === 'chi_sim' ? trimmed.replace(/(?<=\P{ASCII})\s+(?=\P{ASCII})/gu, '') : trimmed;
}

function tesseract(png: Buffer, language: OcrLanguage, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('tesseract', ['stdin', 'stdout', '-l', language, ...args], {
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
