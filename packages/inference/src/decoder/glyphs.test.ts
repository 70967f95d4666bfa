import { describe, expect, it } from 'vitest';
import { encodeGlyphSpans, encodeGlyphs, extractQuotedSpans, GLYPH_END_OF_SPAN_ID } from './glyphs.ts';

const BYT5 = { maxLength: 32, padId: 0, byteOffset: 3 };

describe('extractQuotedSpans', () => {
  it('finds every kind of quote in order of appearance', () => {
    const prompt = `A sign saying "OPEN", a label 'sale', a banner “Grand Prix” and a scroll 「福」`;
    expect(extractQuotedSpans(prompt)).toEqual(['OPEN', 'sale', 'Grand Prix', '福']);
  });

  it('keeps Chinese text inside Chinese quotes', () => {
    expect(extractQuotedSpans('一张海报，上面写着“新年快乐”和「恭喜发财」')).toEqual([
      '新年快乐',
      '恭喜发财',
    ]);
  });

  it('treats quotes inside a span as part of its text', () => {
    expect(extractQuotedSpans(`a poster "say 'hi' to “me”" here`)).toEqual([`say 'hi' to “me”`]);
    expect(extractQuotedSpans('「他说“你好”」')).toEqual(['他说“你好”']);
  });

  it('ignores apostrophes inside words', () => {
    expect(extractQuotedSpans(`don't panic, it's fine`)).toEqual([]);
    expect(extractQuotedSpans(`a mug with 'don't panic' on it`)).toEqual(["don't panic"]);
    expect(extractQuotedSpans(`the dogs' bowl says "WOOF"`)).toEqual(['WOOF']);
  });

  it('does not make a span of an unmatched opener, but finds later spans', () => {
    expect(extractQuotedSpans('a "broken quote')).toEqual([]);
    expect(extractQuotedSpans('“left open and then "CLOSED"')).toEqual(['CLOSED']);
    expect(extractQuotedSpans("「unclosed 'ok' end")).toEqual(['ok']);
    expect(extractQuotedSpans('a closer alone” and 」 here')).toEqual([]);
  });

  it('drops empty spans', () => {
    expect(extractQuotedSpans(`"" and '' and “” then "X"`)).toEqual(['X']);
  });

  it('keeps emoji whole', () => {
    expect(extractQuotedSpans('a cake with "🎂 30 🎉"')).toEqual(['🎂 30 🎉']);
  });
});

describe('encodeGlyphs', () => {
  it('writes UTF-8 bytes + 3, closes each span with 1 and pads with 0', () => {
    const { ids, usedLength, truncated } = encodeGlyphs('"Hi" and "A"', BYT5);
    expect(ids.slice(0, usedLength)).toEqual([
      72 + 3,
      105 + 3,
      GLYPH_END_OF_SPAN_ID,
      65 + 3,
      GLYPH_END_OF_SPAN_ID,
    ]);
    expect(ids).toHaveLength(32);
    expect(ids.slice(usedLength).every((id) => id === 0)).toBe(true);
    expect(truncated).toBe(false);
  });

  it('encodes Chinese as its UTF-8 bytes', () => {
    // 福 is U+798F: UTF-8 E7 A6 8F.
    const { ids, usedLength } = encodeGlyphs('「福」', BYT5);
    expect(ids.slice(0, usedLength)).toEqual([0xe7 + 3, 0xa6 + 3, 0x8f + 3, 1]);
  });

  it('encodes emoji as their four UTF-8 bytes', () => {
    // 🎂 is U+1F382: UTF-8 F0 9F 8E 82.
    const { ids, usedLength } = encodeGlyphs('"🎂"', BYT5);
    expect(ids.slice(0, usedLength)).toEqual([0xf0 + 3, 0x9f + 3, 0x8e + 3, 0x82 + 3, 1]);
  });

  it('gives all padding when the prompt quotes nothing', () => {
    const { ids, spans, usedLength } = encodeGlyphs('a red circle', BYT5);
    expect(spans).toEqual([]);
    expect(usedLength).toBe(0);
    expect(ids).toEqual(new Array(32).fill(0));
  });

  it('keeps whole spans that fit and cuts the next one on a character boundary', () => {
    const options = { maxLength: 8, padId: 0, byteOffset: 3 };
    // "AB" takes 3 ids; 新年 is 6 bytes: only 新 (3 bytes) + </s> fits in the 5 left.
    const { ids, truncated, usedLength } = encodeGlyphSpans(['AB', '新年', 'C'], options);
    expect(truncated).toBe(true);
    expect(ids).toEqual([65 + 3, 66 + 3, 1, 0xe6 + 3, 0x96 + 3, 0xb0 + 3, 1, 0]);
    expect(usedLength).toBe(7);
  });

  it('drops a span when not even one character of it fits', () => {
    const { ids, truncated } = encodeGlyphSpans(['ABCDE', '新'], { maxLength: 8, padId: 0, byteOffset: 3 });
    expect(truncated).toBe(true);
    expect(ids).toEqual([68, 69, 70, 71, 72, 1, 0, 0]);
  });

  it('uses the manifest padding and offset', () => {
    const { ids } = encodeGlyphSpans(['a'], { maxLength: 4, padId: 7, byteOffset: 10 });
    expect(ids).toEqual([97 + 10, 1, 7, 7]);
  });
});
