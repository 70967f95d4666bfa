import {
  BACKGROUND_NOUNS,
  COLOUR_WORDS,
  COMMON_WORDS,
  DOUBLE_QUOTES,
  GROUND_NOUNS,
  LINKING_WORDS,
  MAX_NUMBER_TOKEN,
  RELATION_WORDS,
  SHAPE_NOUNS,
  SINGLE_QUOTES,
  TEXT_NOUNS,
} from './planner-vocabulary.ts';
import { BEGIN_OF_IMAGE_ID, END_OF_IMAGE_ID, IMAGE_TOKEN_OFFSET } from './reference-manifest.ts';

/** Special text tokens at the bottom of the vocabulary; the image markers live in the image range. */
export const PAD_TOKEN = '<pad>';
export const UNK_TOKEN = '<unk>';
export const SOP_TOKEN = '<sop>';
export const EOP_TOKEN = '<eop>';
export const BEGIN_OF_IMAGE_TOKEN = '<|begin_of_image|>';
export const END_OF_IMAGE_TOKEN = '<|end_of_image|>';
export const PAD_ID = 0;
export const UNK_ID = 1;
export const SOP_ID = 2;
export const EOP_ID = 3;

const CONTINUATION_PREFIX = '##';
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
/** ASCII punctuation plus the CJK and typographic marks prompts commonly carry. */
const PUNCTUATION = [
  ...'!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
  ...'、。，！？：；…—–·（）《》【】',
  ...DOUBLE_QUOTES,
  ...SINGLE_QUOTES,
];

/**
 * The WordPiece vocabulary of text ids (all below IMAGE_TOKEN_OFFSET): specials, the
 * integers 0..MAX_NUMBER_TOKEN, every single letter and punctuation mark, continuation
 * pieces for letters and digits (so any ASCII word still encodes), then whole words.
 * Anything else (CJK characters, emoji) becomes `<unk>`, which is still a valid id.
 */
export function buildTextVocabulary(): Map<string, number> {
  const vocab = new Map<string, number>();
  const add = (token: string) => {
    if (!vocab.has(token)) vocab.set(token, vocab.size);
  };
  for (const special of [PAD_TOKEN, UNK_TOKEN, SOP_TOKEN, EOP_TOKEN]) add(special);
  for (let n = 0; n <= MAX_NUMBER_TOKEN; n += 1) add(String(n));
  for (const ch of [...LETTERS, ...PUNCTUATION]) add(ch);
  for (const ch of [...LETTERS, ...DIGITS]) add(`${CONTINUATION_PREFIX}${ch}`);
  for (const word of [
    ...COLOUR_WORDS.keys(),
    ...SHAPE_NOUNS.keys(),
    ...BACKGROUND_NOUNS,
    ...GROUND_NOUNS.keys(),
    ...RELATION_WORDS.keys(),
    ...TEXT_NOUNS,
    ...COMMON_WORDS,
    ...LINKING_WORDS,
  ]) {
    add(word);
  }
  if (vocab.size > IMAGE_TOKEN_OFFSET)
    throw new Error(`text vocabulary of ${vocab.size} overlaps the image ids`);
  return vocab;
}

function addedToken(id: number, content: string) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/**
 * The reference planner's Hugging Face `tokenizer.json`: BERT-style normalisation
 * (lower-case, accents stripped, CJK characters split) and pre-tokenisation (whitespace
 * and every punctuation mark, so each quote mark is its own token), a WordPiece model,
 * and the special tokens as added tokens so they match even without surrounding spaces.
 */
export function buildTokenizerJson(): Record<string, unknown> {
  const vocab = buildTextVocabulary();
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      addedToken(PAD_ID, PAD_TOKEN),
      addedToken(UNK_ID, UNK_TOKEN),
      addedToken(SOP_ID, SOP_TOKEN),
      addedToken(EOP_ID, EOP_TOKEN),
      addedToken(END_OF_IMAGE_ID, END_OF_IMAGE_TOKEN),
      addedToken(BEGIN_OF_IMAGE_ID, BEGIN_OF_IMAGE_TOKEN),
    ],
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: true,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: CONTINUATION_PREFIX, cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: UNK_TOKEN,
      continuing_subword_prefix: CONTINUATION_PREFIX,
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab),
    },
  };
}
