import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FractionBox, meanColour } from '../testing/image-checks.ts';
import { type ReferenceGeneration, startReferenceGeneration } from '../testing/reference-generation.ts';
import { REFERENCE_MANIFEST } from './reference-manifest.ts';
import { PALETTE } from './semantic-codebook.ts';

/** Where to look (centre x, y as fractions of the image) and the colour expected there. */
type Check = [x: number, y: number, colour: string];

/**
 * Prompts with several colours, adjectives between a colour and its noun, ground
 * nouns and relations, through the real planner, denoiser and VAE. Each check looks at
 * a small box where the layout puts a region: objects side by side share the width,
 * a relation between objects stacks them, the ground is the bottom band, the text
 * panel sits above the objects when a relation says so.
 */
const CASES: Array<{ prompt: string; width?: number; checks: Check[] }> = [
  {
    prompt: 'a purple evening sky with a "NOW OPEN" sign',
    checks: [
      [0.04, 0.04, 'purple'],
      [0.96, 0.5, 'purple'],
      [0.08, 0.8, 'white'],
    ],
  },
  {
    prompt: 'a red brick road under a "STOP" sign',
    checks: [
      [0.5, 0.9, 'red'],
      [0.04, 0.97, 'red'],
      [0.04, 0.04, 'white'],
    ],
  },
  {
    prompt: 'a tall green hedge under a pale yellow ceiling',
    checks: [
      [0.5, 0.5, 'green'],
      [0.04, 0.04, 'yellow'],
      [0.96, 0.96, 'yellow'],
    ],
  },
  {
    prompt: 'a red ball and a blue box on a green field',
    checks: [
      [0.25, 0.38, 'red'],
      [0.75, 0.38, 'blue'],
      [0.5, 0.9, 'green'],
      [0.04, 0.04, 'white'],
    ],
  },
  {
    prompt: 'a red ball and a blue box on a green field',
    width: 768,
    checks: [
      [0.25, 0.38, 'red'],
      [0.75, 0.38, 'blue'],
      [0.5, 0.9, 'green'],
      [0.02, 0.04, 'white'],
    ],
  },
  {
    prompt: 'a red circle, a green square and a blue triangle on a black background',
    checks: [
      [1 / 6, 0.5, 'red'],
      [0.5, 0.5, 'green'],
      [5 / 6, 0.52, 'blue'],
      [0.04, 0.04, 'black'],
    ],
  },
  {
    prompt: 'a red ball on a blue box',
    checks: [
      [0.5, 0.27, 'red'],
      [0.5, 0.73, 'blue'],
      [0.04, 0.5, 'white'],
    ],
  },
  {
    prompt: 'a bright pink cat under a white moon on a black night sky',
    checks: [
      [0.5, 0.27, 'white'],
      [0.5, 0.73, 'pink'],
      [0.04, 0.04, 'black'],
    ],
  },
  {
    prompt: 'a small orange sun above a dark navy sea',
    checks: [
      [0.5, 0.38, 'orange'],
      [0.5, 0.9, 'navy'],
      [0.04, 0.04, 'white'],
    ],
  },
  {
    prompt: 'a "SALE" sign above a pink flower',
    checks: [
      [0.08, 0.18, 'white'],
      [0.5, 0.64, 'pink'],
    ],
  },
  {
    prompt: 'a yellow banner that says "HELLO" on a teal wall',
    checks: [
      [0.08, 0.8, 'yellow'],
      [0.04, 0.04, 'teal'],
      [0.96, 0.5, 'teal'],
    ],
  },
  {
    prompt: 'a tall green tree next to a small red house in a blue sky',
    checks: [
      [0.25, 0.52, 'green'],
      [0.75, 0.5, 'red'],
      [0.5, 0.04, 'blue'],
    ],
  },
];

/** Palette colours as the decoder renders them: mapped to [-1,1] and scaled by guidance. */
const RENDERED = PALETTE.map(({ name, rgb }) => ({
  name,
  rgb: rgb.map((v) => {
    const scaled = ((v / 255) * 2 - 1) * REFERENCE_MANIFEST.decoder.defaultGuidanceScale;
    return ((Math.min(1, Math.max(-1, scaled)) + 1) / 2) * 255;
  }),
}));

function nearestColour(rgb: [number, number, number]): string {
  const distance = (p: readonly number[]) => p.reduce((sum, v, i) => sum + (v - rgb[i]!) ** 2, 0);
  return RENDERED.reduce((best, p) => (distance(p.rgb) < distance(best.rgb) ? p : best)).name;
}

const around = (x: number, y: number): FractionBox => {
  const half = 0.025;
  const left = Math.min(Math.max(x - half, 0), 1 - 2 * half);
  const top = Math.min(Math.max(y - half, 0), 1 - 2 * half);
  return { x: left, y: top, w: 2 * half, h: 2 * half };
};

describe('reference pack scene colours', () => {
  let generation: ReferenceGeneration;
  beforeAll(async () => {
    generation = await startReferenceGeneration();
  });
  afterAll(async () => {
    await generation?.close();
  });

  for (const { prompt, width = 512, checks } of CASES) {
    it(`draws each colour of "${prompt}" in its region at ${width}x512`, async () => {
      const [generated] = await generation.generate([prompt], { width, height: 512 });
      const seen = await Promise.all(
        checks.map(async ([x, y]) => nearestColour(await meanColour(generated!.image, around(x, y)))),
      );
      expect(seen).toEqual(checks.map(([, , colour]) => colour));
    });
  }
});
