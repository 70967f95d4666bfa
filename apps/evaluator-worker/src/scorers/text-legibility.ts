/**
 * The decoder's text legibility: OCR of a rendered image compared with the quoted spans
 * the decoder was given as glyphs. The image is read three ways (dark lines, light
 * lines, the whole page) and each span keeps its best match, so a reading that fails
 * one way does not count against the image; a span found nowhere scores a CER of 1.
 */
import type { SpanReading } from '@glm-image/shared/quality';
import sharp from 'sharp';
import { bestMatch } from './character-errors.ts';
import type { OcrEngine } from './ocr-engine.ts';
import { findTextLines } from './text-lines.ts';

export interface TextLegibility {
  spans: SpanReading[];
  /** 1 - the mean CER of the spans. */
  legibility: number;
}

/** Everything OCR reads in an image: each line found, all lines of a polarity together (wrapped text), and the page. */
export async function readImage(ocr: OcrEngine, image: Buffer): Promise<string[]> {
  const readings: string[] = [];
  for (const polarity of ['dark', 'light'] as const) {
    const lines = await findTextLines(image, polarity);
    const texts: string[] = [];
    for (const line of lines) texts.push(await ocr.readLine(line.png));
    readings.push(...texts, texts.join(' '));
  }
  // As PNG: outputs may be WebP or JPEG, which the engine's image reader may not take.
  readings.push(await ocr.readPage(await sharp(image).png().toBuffer()));
  return readings.filter((text) => text.length > 0);
}

/** Null when the prompt quotes no text: legibility means nothing without any. */
export async function scoreTextLegibility(
  ocr: OcrEngine,
  image: Buffer,
  spans: readonly string[],
): Promise<TextLegibility | null> {
  if (spans.length === 0) return null;
  const readings = await readImage(ocr, image);
  const scored = spans.map((text) => ({ text, ...bestMatch(text, readings) }));
  const meanCer = scored.reduce((sum, s) => sum + s.cer, 0) / scored.length;
  return { spans: scored, legibility: 1 - meanCer };
}
