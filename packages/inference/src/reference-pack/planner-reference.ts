import { DType, type GraphBuilder } from './graph-builder.ts';
import { DETAIL_LEVELS, PALETTE } from './semantic-codebook.ts';

/**
 * The tokens of the sequence so far, as the reference planner's layer-0 cache holds them,
 * and how much left padding comes before them: together they locate any earlier token.
 */
export interface SequenceTokens {
  /** Codebook index of every token so far (0 for text), float [B, T]. */
  values: string;
  /** Left padding of each row, float [B, 1]. */
  pads: string;
}

export interface ReferenceCellQuery {
  /** Index among the real tokens of the reference's first image token, [B, S, 1]. */
  start: string;
  /** The reference cell under each position's next cell: row and column, [B, S, 1]. */
  row: string;
  col: string;
  /** Columns of the reference's grid, [B, S, 1]. */
  cols: string;
}

/**
 * What the first reference image has in the cell under each position's next cell:
 * region and palette colour, [B, S, 1] each. The reference's tokens sit in the prompt in
 * row-major order, so cell (row, col) is the token `row * cols + col` after its start: an
 * attention with one-hot weights, written as the gather it amounts to.
 */
export function referenceCell(
  g: GraphBuilder,
  tokens: SequenceTokens,
  { start, row, col, cols }: ReferenceCellQuery,
): { region: string; colour: string } {
  const i64 = (values: number[]) => g.constInt64(values, [values.length]);
  const length = g.op('Cast', [g.op('Slice', [g.op('Shape', [tokens.values]), i64([1]), i64([2])])], {
    to: DType.float,
  });
  const position = g.op('Add', [
    g.op('Add', [g.op('Unsqueeze', [tokens.pads, i64([2])]), start]),
    g.op('Add', [g.op('Mul', [row, cols]), col]),
  ]);
  // Without a reference the position means nothing; clamped, it still names a token.
  const clamped = g.op('Min', [g.op('Max', [position, g.scalar(0)]), g.op('Sub', [length, g.scalar(1)])]);
  const index = g.op('Squeeze', [g.op('Cast', [clamped], { to: DType.int64 }), i64([2])]);
  const value = g.op('Unsqueeze', [g.op('GatherElements', [tokens.values, index], { axis: 1 }), i64([2])]);
  const meaning = g.op('Floor', [g.op('Div', [value, g.scalar(DETAIL_LEVELS)])]);
  const region = g.op('Floor', [g.op('Div', [meaning, g.scalar(PALETTE.length)])]);
  const colour = g.op('Sub', [meaning, g.op('Mul', [region, g.scalar(PALETTE.length)])]);
  return { region, colour };
}
