/**
 * How well a quoted span was rendered, from what OCR read anywhere in the image: the
 * character error rate of the span against the best-matching stretch of the reading
 * (edit distance over the span's length, whitespace ignored, case kept), so text the
 * OCR read around the span costs nothing and a span not found at all costs 1.
 */

export interface SpanMatch {
  /** The stretch of the reading the span matched best ("" when nothing matched). */
  read: string;
  /** Character error rate in [0, 1]. */
  cer: number;
}

const nonSpace = (text: string) => {
  const chars: string[] = [];
  const positions: number[] = [];
  const codePoints = Array.from(text);
  for (const [i, ch] of codePoints.entries()) {
    if (/\s/u.test(ch)) continue;
    chars.push(ch);
    positions.push(i);
  }
  return { chars, positions, codePoints };
};

/** Semi-global alignment: the span in full against any substring of the reading. */
export function matchSpan(span: string, reading: string): SpanMatch {
  const a = nonSpace(span).chars;
  const b = nonSpace(reading);
  if (a.length === 0) return { read: '', cer: 0 };
  const rows = a.length + 1;
  const cols = b.chars.length + 1;
  // cost[i][j]: the first i span characters aligned so as to end at reading position j;
  // start[i][j]: where in the reading that alignment began. Row 0 costs nothing anywhere.
  const cost = new Int32Array(rows * cols);
  const start = new Int32Array(rows * cols);
  for (let j = 0; j < cols; j += 1) start[j] = j;
  for (let i = 1; i < rows; i += 1) {
    cost[i * cols] = i;
    start[i * cols] = 0;
    for (let j = 1; j < cols; j += 1) {
      const diagonal = cost[(i - 1) * cols + j - 1]! + (a[i - 1] === b.chars[j - 1] ? 0 : 1);
      const up = cost[(i - 1) * cols + j]! + 1;
      const left = cost[i * cols + j - 1]! + 1;
      const best = Math.min(diagonal, up, left);
      cost[i * cols + j] = best;
      start[i * cols + j] =
        best === diagonal
          ? start[(i - 1) * cols + j - 1]!
          : best === up
            ? start[(i - 1) * cols + j]!
            : start[i * cols + j - 1]!;
    }
  }
  let end = 0;
  // On a tie the longer stretch: a misread last character is a substitution, not a deletion.
  for (let j = 1; j < cols; j += 1)
    if (cost[(rows - 1) * cols + j]! <= cost[(rows - 1) * cols + end]!) end = j;
  const errors = cost[(rows - 1) * cols + end]!;
  const from = start[(rows - 1) * cols + end]!;
  const read = end > from ? b.codePoints.slice(b.positions[from]!, b.positions[end - 1]! + 1).join('') : '';
  return { read, cer: Math.min(1, errors / a.length) };
}

/** The best match of the span over several readings of one image. */
export function bestMatch(span: string, readings: readonly string[]): SpanMatch {
  let best: SpanMatch = { read: '', cer: 1 };
  for (const reading of readings) {
    const match = matchSpan(span, reading);
    if (match.cer < best.cer) best = match;
  }
  return best;
}
