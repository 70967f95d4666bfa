import {
  BACKGROUND_NOUNS,
  COLOUR_WORDS,
  DOUBLE_QUOTES,
  GROUND_NOUNS,
  LINKING_WORDS,
  RELATION_WORDS,
  SHAPE_NOUNS,
  SINGLE_QUOTES,
  TEXT_NOUNS,
} from './planner-vocabulary.ts';
import { IMAGE_TOKEN_OFFSET, REFERENCE_MANIFEST } from './reference-manifest.ts';
import { PALETTE } from './semantic-codebook.ts';
import { buildTextVocabulary, EOP_TOKEN, SOP_TOKEN } from './tokenizer-json.ts';

const { headDim } = REFERENCE_MANIFEST.planner;

/**
 * Hand-set features of each token, the reference planner's embedding. Layer 0's cache
 * stores them: slots below `headDim` in its values, the rest in its keys.
 */
export const F = {
  colour: 0, // 16 slots, one-hot palette colour
  circle: 16,
  square: 17,
  triangle: 18,
  background: 19,
  textNoun: 20,
  doubleQuote: 21,
  singleQuote: 22,
  isNumber: 23,
  numberValue: 24,
  sop: 25,
  eop: 26,
  beginOfImage: 27,
  image: 28, // any id in the image range, <|begin_of_image|> included
  object: 29, // a noun drawn as a shape
  ground: 30,
  above: 31,
  below: 32,
  /** Palette index + 1 of a colour word (0 for other tokens). */
  colourId: 33,
  /** Palette index + 1 of the colour a noun has when the prompt gives it none. */
  defaultColourId: 34,
  /** Not a `##` continuation piece: a word, a number or a punctuation mark. */
  wordStart: 35,
  isColour: 36,
  /** 1 for every token (padding is zeroed): counts give each token its index among the real ones. */
  real: 37,
  endOfImage: 38,
  /** A word that may stand between a noun and its colour after it (LINKING_WORDS). */
  linking: 39,
  /** The codebook index of an image token (0 otherwise): not in the table, written from the id. */
  tokenValue: 40,
} as const;
export const FEATURE_WIDTH = 2 * headDim;

/** Rows of the embedding table above the text ids. */
export const IMAGE_ROW = IMAGE_TOKEN_OFFSET;
export const BEGIN_ROW = IMAGE_TOKEN_OFFSET + 1;
export const END_ROW = IMAGE_TOKEN_OFFSET + 2;
export const TABLE_ROWS = IMAGE_TOKEN_OFFSET + 3;

const colourIdOf = (name: string | undefined) => PALETTE.findIndex((p) => p.name === name) + 1;

/** The embedding table [TABLE_ROWS, FEATURE_WIDTH]. */
export function buildEmbeddingTable(): Float32Array {
  if (headDim < 32 || F.tokenValue >= FEATURE_WIDTH) {
    throw new Error('the reference planner is wired for headDim >= 32');
  }
  const table = new Float32Array(TABLE_ROWS * FEATURE_WIDTH);
  const set = (row: number, slot: number, value = 1) => {
    if (row >= 0) table[row * FEATURE_WIDTH + slot] = value;
  };
  const vocab = buildTextVocabulary();
  const idOf = (word: string) => vocab.get(word) ?? -1;
  for (const [word, colour] of COLOUR_WORDS) {
    set(idOf(word), F.colour + colour);
    set(idOf(word), F.colourId, colour + 1);
    set(idOf(word), F.isColour);
  }
  for (const [word, kind] of SHAPE_NOUNS) {
    set(idOf(word), F.circle + kind);
    set(idOf(word), F.object);
  }
  for (const word of BACKGROUND_NOUNS) set(idOf(word), F.background);
  set(idOf('sky'), F.defaultColourId, colourIdOf('blue'));
  set(idOf('skies'), F.defaultColourId, colourIdOf('blue'));
  for (const [word, colour] of GROUND_NOUNS) {
    set(idOf(word), F.ground);
    set(idOf(word), F.defaultColourId, colourIdOf(colour));
  }
  for (const [word, direction] of RELATION_WORDS) set(idOf(word), direction > 0 ? F.above : F.below);
  for (const word of TEXT_NOUNS) set(idOf(word), F.textNoun);
  for (const mark of DOUBLE_QUOTES) set(idOf(mark), F.doubleQuote);
  for (const mark of SINGLE_QUOTES) set(idOf(mark), F.singleQuote);
  for (const [token, id] of vocab) {
    if (/^[0-9]+$/.test(token)) {
      set(id, F.isNumber);
      set(id, F.numberValue, Number(token));
    }
    if (!token.startsWith('##') && !token.startsWith('<')) set(id, F.wordStart);
  }
  set(idOf(SOP_TOKEN), F.sop);
  set(idOf(EOP_TOKEN), F.eop);
  for (const word of LINKING_WORDS) set(idOf(word), F.linking);
  for (const row of [IMAGE_ROW, BEGIN_ROW, END_ROW]) set(row, F.image);
  set(BEGIN_ROW, F.beginOfImage);
  set(END_ROW, F.endOfImage);
  for (let row = 0; row < TABLE_ROWS; row += 1) set(row, F.real);
  return table;
}

/** Slots that carry meaning only outside quoted text (a colour word inside quotes is text). */
export const SEMANTIC_SLOTS: readonly number[] = [
  ...Array.from({ length: PALETTE.length }, (_, i) => F.colour + i),
  F.circle,
  F.square,
  F.triangle,
  F.background,
  F.textNoun,
  F.object,
  F.ground,
  F.above,
  F.below,
  F.colourId,
  F.defaultColourId,
  F.isColour,
  F.linking,
];
