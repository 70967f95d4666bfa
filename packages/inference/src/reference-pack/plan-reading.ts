/**
 * Reading a reference-pack plan back: what each token of a grid means (region and
 * colour, per the hand-laid codebook) and which colours a prompt names, so a plan can be
 * checked against its prompt. Only meaningful for this pack's codebook; a learned
 * codebook has no such table, and a pack with one brings a scorer model instead.
 */
import { extractQuotedSpans } from '../decoder/glyphs.ts';
import type { TokenGrid } from '../planner/planner.ts';
import { COLOUR_WORDS } from './planner-vocabulary.ts';
import { decodeToken, PALETTE, Region } from './semantic-codebook.ts';

export interface PlanCell {
  row: number;
  col: number;
  /** The palette colour's name. */
  colour: string;
  isTextPanel: boolean;
}

export function readPlanCells(grid: TokenGrid): PlanCell[] {
  return grid.tokens.map((token, i) => {
    const { region, colour } = decodeToken(token);
    return {
      row: Math.floor(i / grid.cols),
      col: i % grid.cols,
      colour: PALETTE[colour]?.name ?? 'unknown',
      isTextPanel: region === Region.textPanel,
    };
  });
}

/** The palette colours the prompt names outside its quoted text (synonyms resolved), in order, once each. */
export function coloursNamedIn(prompt: string): string[] {
  let text = prompt;
  for (const span of extractQuotedSpans(prompt)) text = text.replace(span, ' ');
  const names: string[] = [];
  for (const word of text.toLowerCase().split(/[^\p{L}]+/u)) {
    const index = COLOUR_WORDS.get(word);
    const name = index === undefined ? undefined : PALETTE[index]?.name;
    if (name && !names.includes(name)) names.push(name);
  }
  return names;
}
