/**
 * Reference images as the image tokenizer reads them, built directly as token grids for
 * tests of the planner that do not need the image tokenizer itself.
 */

import type { TokenGrid } from '../planner/token-grid.ts';
import { encodeToken, PALETTE, Region } from '../reference-pack/semantic-codebook.ts';

/** The palette index of a colour name of the reference pack. */
export const colour = (name: string): number => PALETTE.findIndex((p) => p.name === name);

/** A main grid with a red disc (centre row 4, column 11) on blue. */
export function discGrid(rows: number, cols: number): TokenGrid {
  const tokens: number[] = [];
  for (let r = 0; r < rows; r += 1) {
    for (let c = 0; c < cols; c += 1) {
      const inDisc = Math.hypot(r + 0.5 - 4.5, c + 0.5 - 11.5) < 2.5;
      tokens.push(
        inDisc
          ? encodeToken(Region.shape, colour('red'), 128)
          : encodeToken(Region.background, colour('blue'), 128),
      );
    }
  }
  return { rows, cols, tokens };
}
