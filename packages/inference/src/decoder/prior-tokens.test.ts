import { describe, expect, it } from 'vitest';
import { upsampleTokenGrid } from './prior-tokens.ts';

describe('upsampleTokenGrid', () => {
  it('repeats each token over the 2x2 latent patches it covers', () => {
    const grid = { rows: 2, cols: 3, tokens: [1, 2, 3, 4, 5, 6] };
    expect(Array.from(upsampleTokenGrid(grid, 4, 6))).toEqual([
      1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6,
    ]);
  });
});
