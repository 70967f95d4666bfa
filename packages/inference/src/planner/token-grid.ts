/** A grid of codebook indices (0..codebookSize-1, i.e. token id - imageVocab.firstTokenId), row-major. */
export interface TokenGrid {
  rows: number;
  cols: number;
  tokens: number[];
}
