/**
 * Glyph conditioning. The decoder never sees the prompt; the only text it receives is
 * every quoted span, encoded byte by byte the way ByT5 does it (id = UTF-8 byte +
 * offset, each span closed by </s>, the rest padding). This is what lets it render
 * the words the user asked for, in any script.
 *
 * Quote rules (scanning left to right):
 * - Pairs: `"…"`, `'…'`, `“…”` and `「…」`. A span runs from an opener to the FIRST
 *   matching closer after it; anything in between, other quote marks included, is
 *   the span's text (so `"say 'hi'"` is one span, `say 'hi'`). Spans never nest.
 * - An opener with no matching closer later in the prompt is not a span; scanning
 *   resumes right after it, so later well-formed spans are still found.
 * - `'` is an apostrophe, not a quote, when it sits inside a word (a letter or digit
 *   on both sides, as in don't): it neither opens nor closes a span. A `'` preceded
 *   by a letter or digit cannot open a span either (as in the plural possessive
 *   `dogs'`), and one followed by a letter or digit cannot close one.
 * - Empty spans (`""`) carry no glyphs and are dropped.
 */

/** ByT5's end-of-sequence id, written after every span. */
export const GLYPH_END_OF_SPAN_ID = 1;

const CLOSER_OF: Readonly<Record<string, string>> = { '"': '"', "'": "'", '“': '”', '「': '」' };

const WORD_CHAR = /[\p{L}\p{N}]/u;

function isWordChar(ch: string | undefined): boolean {
  return ch !== undefined && WORD_CHAR.test(ch);
}

/** Returns the text of every quoted span in `prompt`, in order of appearance. */
export function extractQuotedSpans(prompt: string): string[] {
  const chars = Array.from(prompt); // code points, so neighbours of a quote are whole characters
  const spans: string[] = [];
  let i = 0;
  while (i < chars.length) {
    const opener = chars[i] as string;
    const closer = CLOSER_OF[opener];
    if (closer === undefined || (opener === "'" && isWordChar(chars[i - 1]))) {
      i += 1;
      continue;
    }
    const end = findCloser(chars, i + 1, closer);
    if (end < 0) {
      i += 1; // unmatched opener: an ordinary character
      continue;
    }
    const text = chars.slice(i + 1, end).join('');
    if (text.length > 0) spans.push(text);
    i = end + 1;
  }
  return spans;
}

function findCloser(chars: string[], from: number, closer: string): number {
  for (let j = from; j < chars.length; j += 1) {
    if (chars[j] !== closer) continue;
    if (closer === "'" && isWordChar(chars[j + 1])) continue; // don't, it's: apostrophe
    return j;
  }
  return -1;
}

export interface GlyphEncodingOptions {
  /** Length of the id sequence the denoiser takes (manifest.decoder.glyphs.maxLength). */
  maxLength: number;
  /** Padding id (manifest.decoder.glyphs.padId, 0 for ByT5). */
  padId: number;
  /** Added to each UTF-8 byte (manifest.decoder.glyphs.byteOffset, 3 for ByT5). */
  byteOffset: number;
}

export interface GlyphEncoding {
  /** Exactly `maxLength` ids: the spans' bytes, each span closed by 1, then padding. */
  ids: number[];
  /** The spans as extracted, before any truncation. */
  spans: string[];
  /** Ids that carry text or an end-of-span marker (the rest is padding). */
  usedLength: number;
  /** True when some span text did not fit into `maxLength` ids and was cut. */
  truncated: boolean;
}

const utf8 = new TextEncoder();

/**
 * Encodes spans as ByT5 ids. When they do not all fit, whole spans are kept while
 * they fit (with their end-of-span id); the first span that does not fit is cut at a
 * character boundary (never inside a multi-byte UTF-8 sequence) and still closed by
 * an end-of-span id, provided at least one of its characters fits; later spans are
 * dropped. `truncated` reports that this happened.
 */
export function encodeGlyphSpans(spans: string[], options: GlyphEncodingOptions): GlyphEncoding {
  const { maxLength, padId, byteOffset } = options;
  const ids: number[] = [];
  let truncated = false;
  for (const span of spans) {
    const bytes = utf8.encode(span);
    if (ids.length + bytes.length + 1 <= maxLength) {
      for (const b of bytes) ids.push(b + byteOffset);
      ids.push(GLYPH_END_OF_SPAN_ID);
      continue;
    }
    truncated = true;
    const room = maxLength - ids.length - 1; // keep one slot for the end-of-span id
    const kept: number[] = [];
    for (const ch of span) {
      const chBytes = utf8.encode(ch);
      if (kept.length + chBytes.length > room) break;
      for (const b of chBytes) kept.push(b + byteOffset);
    }
    if (kept.length > 0) ids.push(...kept, GLYPH_END_OF_SPAN_ID);
    break;
  }
  const usedLength = ids.length;
  while (ids.length < maxLength) ids.push(padId);
  return { ids, spans, usedLength, truncated };
}

/** Extracts the quoted spans of `prompt` and encodes them for the denoiser. */
export function encodeGlyphs(prompt: string, options: GlyphEncodingOptions): GlyphEncoding {
  return encodeGlyphSpans(extractQuotedSpans(prompt), options);
}
