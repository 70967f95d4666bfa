import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractQuotedSpans } from '../decoder/glyphs.ts';
import { ASCII_TEXT_PROMPTS, CHINESE_TEXT_PROMPTS } from '../testing/fidelity-prompts.ts';
import { type OcrLanguage, readTextLines } from '../testing/image-checks.ts';
import {
  cellMeaning,
  cellsBox,
  type Generated,
  type ReferenceGeneration,
  startReferenceGeneration,
} from '../testing/reference-generation.ts';
import { type AccuracyCount, accuracy, characterErrors, wordErrors } from '../testing/text-accuracy.ts';
import { PALETTE, Region } from './semantic-codebook.ts';

const SIZES = [
  { width: 512, height: 512 },
  { width: 768, height: 512 },
  { width: 1024, height: 1024 },
];

/** Same rule as the denoiser: dark ink on light panels, light ink on dark ones. */
function inkIsLightOn(colour: string): boolean {
  const rgb = PALETTE.find((p) => p.name === colour)?.rgb ?? [255, 255, 255];
  return (0.299 * rgb[0]! + 0.587 * rgb[1]! + 0.114 * rgb[2]!) / 255 <= 0.5;
}

interface Reading {
  prompt: string;
  expected: string;
  read: string;
  count: AccuracyCount;
}

async function readBack(generated: Generated[], language: OcrLanguage): Promise<Reading[]> {
  const panels = generated.map((g) => cellsBox(g, (cell) => cell.region === Region.textPanel));
  // One OCR run per ink colour: panels light enough for dark ink, and dark ones.
  const reads = new Array<string>(generated.length).fill('');
  for (const inkIsLight of [false, true]) {
    const picked = generated.flatMap((g, i) => {
      const panel = panels[i];
      if (!panel) return [];
      const centre = cellMeaning(
        g.main,
        Math.floor(((panel.top + panel.height / 2) * g.main.rows) / g.height),
        Math.floor(((panel.left + panel.width / 2) * g.main.cols) / g.width),
      );
      return inkIsLightOn(centre.colour) === inkIsLight ? [{ i, image: g.image, box: panel }] : [];
    });
    const lines = await readTextLines(picked, { inkIsLight, language });
    picked.forEach(({ i }, k) => {
      reads[i] = lines[k] ?? '';
    });
  }
  return generated.map((g, i) => {
    const expected = extractQuotedSpans(g.prompt).join(' ');
    const read = reads[i]!;
    const count = language === 'eng' ? wordErrors(expected, read) : characterErrors(expected, read);
    return { prompt: g.prompt, expected, read, count };
  });
}

const misreads = (readings: Reading[]) =>
  readings
    .filter((r) => r.count.errors > 0)
    .map((r) => `${JSON.stringify(r.expected)} read as ${JSON.stringify(r.read)}`);

/**
 * Quoted text through the whole reference pipeline (planner, denoiser, VAE) and back
 * through OCR, at the sizes the pack is most used at.
 */
describe('reference pack text fidelity (OCR)', () => {
  let generation: ReferenceGeneration;
  beforeAll(async () => {
    generation = await startReferenceGeneration();
  });
  afterAll(async () => {
    await generation?.close();
  });

  it('has prompts enough to mean something', () => {
    expect(ASCII_TEXT_PROMPTS.length).toBeGreaterThanOrEqual(20);
    for (const prompt of ASCII_TEXT_PROMPTS) {
      expect(extractQuotedSpans(prompt).join(' ').length, prompt).toBeLessThanOrEqual(24);
    }
  });

  for (const size of SIZES) {
    describe(`at ${size.width}x${size.height}`, () => {
      let ascii: Generated[];
      let chinese: Generated[];
      beforeAll(async () => {
        const all = await generation.generate([...ASCII_TEXT_PROMPTS, ...CHINESE_TEXT_PROMPTS], size);
        ascii = all.slice(0, ASCII_TEXT_PROMPTS.length);
        chinese = all.slice(ASCII_TEXT_PROMPTS.length);
      });

      it('reads back every quoted ASCII word', async () => {
        const readings = await readBack(ascii, 'eng');
        expect(misreads(readings)).toEqual([]);
        expect(accuracy(readings.map((r) => r.count))).toBe(1);
      });

      it('reads back quoted Chinese with character accuracy >= 0.9', async () => {
        const readings = await readBack(chinese, 'chi_sim');
        const charAccuracy = accuracy(readings.map((r) => r.count));
        expect(charAccuracy, misreads(readings).join('; ')).toBeGreaterThanOrEqual(0.9);
      });
    });
  }
});
