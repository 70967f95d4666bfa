/**
 * What a semantic image token means in the reference pack. The real GLM-Image codebook
 * is learned; ours is laid out by hand so that the tiny models can be checked:
 *
 *   token = (region * PALETTE.length + colour) * DETAIL_LEVELS + detail
 *
 * `region` says what occupies the cell, `colour` its palette colour, `detail` a shading
 * level the planner samples (so another seed gives a different image).
 */
export const Region = {
  background: 0,
  shape: 1,
  textPanel: 2,
  reserved: 3,
} as const;
export type Region = (typeof Region)[keyof typeof Region];

export const REGION_COUNT = 4;
export const DETAIL_LEVELS = 256;

/** Colour words the reference planner understands, with their RGB (0..255). */
export const PALETTE = [
  { name: 'red', rgb: [220, 30, 30] },
  { name: 'orange', rgb: [245, 140, 20] },
  { name: 'yellow', rgb: [245, 220, 30] },
  { name: 'green', rgb: [30, 170, 60] },
  { name: 'blue', rgb: [30, 70, 220] },
  { name: 'purple', rgb: [130, 50, 190] },
  { name: 'pink', rgb: [245, 130, 190] },
  { name: 'brown', rgb: [130, 80, 40] },
  { name: 'black', rgb: [20, 20, 20] },
  { name: 'white', rgb: [245, 245, 245] },
  { name: 'gray', rgb: [128, 128, 128] },
  { name: 'cyan', rgb: [30, 200, 220] },
  { name: 'magenta', rgb: [220, 40, 200] },
  { name: 'teal', rgb: [20, 130, 130] },
  { name: 'navy', rgb: [20, 30, 110] },
  { name: 'gold', rgb: [212, 175, 55] },
] as const;

/** Extra spellings mapped onto palette entries. */
export const COLOUR_SYNONYMS: Record<string, string> = { grey: 'gray', violet: 'purple', crimson: 'red' };

export const CODEBOOK_SIZE = REGION_COUNT * PALETTE.length * DETAIL_LEVELS; // 16,384

export function encodeToken(region: number, colour: number, detail: number): number {
  return (region * PALETTE.length + colour) * DETAIL_LEVELS + detail;
}

export function decodeToken(token: number): { region: number; colour: number; detail: number } {
  const detail = token % DETAIL_LEVELS;
  const rc = Math.floor(token / DETAIL_LEVELS);
  return { region: Math.floor(rc / PALETTE.length), colour: rc % PALETTE.length, detail };
}
