import { describe, expect, it } from 'vitest';
import { glyphPicture, loadBitmapFont, parseUnifontHex, REPLACEMENT_CHARACTER } from './bitmap-font.ts';

const font = loadBitmapFont();
const ink = (picture: string[]) => picture.join('').split('#').length - 1;

describe('bitmap font (GNU Unifont)', () => {
  it('has distinct glyphs for characters a small font confuses', () => {
    for (const [a, b] of ['0O', 'AH', 'NW', 'NH', 'MN', '1l', '5S', '8B', 'rn']) {
      expect(glyphPicture(font, a!.codePointAt(0)!), `${a} vs ${b}`).not.toEqual(
        glyphPicture(font, b!.codePointAt(0)!),
      );
    }
  });

  it('draws ASCII 8 pixels wide and CJK, kana and hangul 16 wide, all with ink', () => {
    for (const ch of 'AZaz09!?') {
      expect(font.widths[ch.codePointAt(0)!], ch).toBe(8);
      expect(ink(glyphPicture(font, ch.codePointAt(0)!)), ch).toBeGreaterThan(4);
    }
    for (const ch of '中文字新年快乐龍あカ한글') {
      expect(font.widths[ch.codePointAt(0)!], ch).toBe(16);
      expect(ink(glyphPicture(font, ch.codePointAt(0)!)), ch).toBeGreaterThan(20);
    }
    expect(font.widths[REPLACEMENT_CHARACTER]).toBeGreaterThan(0);
  });

  it('gives control and zero-width characters no room and no ink', () => {
    for (const cp of [0x00, 0x09, 0x0a, 0x7f, 0x85, 0x200b, 0xfeff]) {
      expect(font.widths[cp], cp.toString(16)).toBe(0);
      expect(ink(glyphPicture(font, cp))).toBe(0);
    }
    expect(font.widths[0x20]).toBe(8);
  });

  it('parses the .hex format and boxes characters the font lacks', () => {
    const lines = [
      `0041:${'00'.repeat(4)}18242442427E424242${'00'.repeat(3)}`,
      `4E2D:${'0100'.repeat(16)}`,
      ...Array.from({ length: 1000 }, (_, i) => `${(0x5000 + i).toString(16)}:${'00'.repeat(16)}`),
    ];
    const parsed = parseUnifontHex(lines.join('\n'));
    expect(glyphPicture(parsed, 0x41)[9]).toBe('.######.');
    expect(glyphPicture(parsed, 0x4e2d)[0]).toBe('.......#........');
    expect(parsed.widths[0xe000]).toBe(16);
    expect(ink(glyphPicture(parsed, 0xe000))).toBeGreaterThan(0);
  });

  it('refuses a file that is not Unifont, and says how to get the font when it is missing', () => {
    expect(() => parseUnifontHex('hello')).toThrow(/not a Unifont/);
    expect(() => loadBitmapFont('/nonexistent/unifont.hex')).toThrow(/apt|unifont/);
  });
});
