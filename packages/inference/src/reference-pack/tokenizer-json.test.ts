import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { COLOUR_WORDS, SHAPE_NOUNS } from './planner-vocabulary.ts';
import { BEGIN_OF_IMAGE_ID, END_OF_IMAGE_ID, IMAGE_TOKEN_OFFSET } from './reference-manifest.ts';
import { buildTokenizerJson, EOP_ID, PAD_ID, SOP_ID, UNK_ID } from './tokenizer-json.ts';

// A round trip through JSON text, as a runtime reading tokenizer.json from disk would see it.
const tokenizer = new Tokenizer(JSON.parse(JSON.stringify(buildTokenizerJson())), {});
const ids = (text: string) => tokenizer.encode(text).ids;

function expectValidTextIds(list: number[]) {
  for (const id of list) {
    expect(Number.isInteger(id)).toBe(true);
    expect(id).toBeGreaterThanOrEqual(0);
    expect(id).toBeLessThan(IMAGE_TOKEN_OFFSET);
  }
}

describe('reference tokenizer.json', () => {
  it('encodes the prompt template with every special token as one id, spaces or not', () => {
    const encoded = tokenizer.encode('a red circle<sop>32 32<eop><sop>16 16<eop><|begin_of_image|>');
    expect(encoded.tokens).toEqual([
      'a',
      'red',
      'circle',
      '<sop>',
      '32',
      '32',
      '<eop>',
      '<sop>',
      '16',
      '16',
      '<eop>',
      '<|begin_of_image|>',
    ]);
    expect(encoded.ids.slice(3)).toEqual([SOP_ID, 36, 36, EOP_ID, SOP_ID, 20, 20, EOP_ID, BEGIN_OF_IMAGE_ID]);
    expect(ids('<|end_of_image|><pad><unk>')).toEqual([END_OF_IMAGE_ID, PAD_ID, UNK_ID]);
    expect(tokenizer.token_to_id('<|begin_of_image|>')).toBe(BEGIN_OF_IMAGE_ID);
  });

  it('gives every integer 0..256 a single token and keeps text ids below the image range', () => {
    for (let n = 0; n <= 256; n += 1) {
      const encoded = tokenizer.encode(String(n));
      expect(encoded.tokens).toEqual([String(n)]);
    }
    expect(ids('257').length).toBeGreaterThan(1);
    const model = buildTokenizerJson().model as { vocab: Record<string, number> };
    expect(Math.max(...Object.values(model.vocab))).toBeLessThan(IMAGE_TOKEN_OFFSET);
  });

  it('lower-cases and gives colour, synonym and shape words one id each', () => {
    for (const word of [...COLOUR_WORDS.keys(), ...SHAPE_NOUNS.keys()]) {
      expect(tokenizer.encode(word.toUpperCase()).tokens).toEqual([word]);
    }
    expect(ids('Grey SQUARE')).toEqual(ids('grey square'));
  });

  it('splits punctuation and makes each quote mark its own token', () => {
    const tokens: string[] = tokenizer.tokenize('sign: "HELLO", “hi” 「好」 \'yo\' ‘x’!');
    for (const mark of ['"', '“', '”', '「', '」', "'", '‘', '’', ':', ',', '!'])
      expect(tokens).toContain(mark);
    expect(tokens.filter((t) => t === '"')).toHaveLength(2);
    expect(tokens.filter((t) => t === "'")).toHaveLength(2);
  });

  it('always yields valid ids: unknown words, Chinese, emoji, accents, empty and very long input', () => {
    const unknown = tokenizer.encode('zyzzyva qwxj');
    expect(unknown.ids).not.toContain(UNK_ID); // spelled out with single letters and ## pieces
    expectValidTextIds(unknown.ids);

    const chinese = ids('一只红色的猫');
    expect(chinese).toHaveLength(6); // one per CJK character
    expect(new Set(chinese)).toEqual(new Set([UNK_ID]));

    const emoji = ids('a 🙂 cat 👍🏽');
    expectValidTextIds(emoji);
    expect(emoji).toContain(UNK_ID);

    expect(tokenizer.encode('Café').tokens.join('')).toBe('c##a##f##e');
    expect(ids('')).toEqual([]);
    expect(ids('   \n\t ')).toEqual([]);

    const long = ids(`${'a red circle on a blue background '.repeat(500)}${'x'.repeat(5000)}`);
    expect(long.length).toBe(3501);
    expect(long.at(-1)).toBe(UNK_ID); // a word longer than max_input_chars_per_word
    expectValidTextIds(long);
  });

  it('decodes ids back to lower-cased text', () => {
    expect(tokenizer.decode(ids('A red circle on a Zyx sky'))).toBe('a red circle on a zyx sky');
  });
});
