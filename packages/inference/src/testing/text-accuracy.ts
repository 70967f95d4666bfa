/**
 * How well text read back from an image matches the text asked for, as OCR papers
 * measure it: one minus the edit distance over the length of the reference, counted in
 * words or in characters, never below 0.
 */

/** Levenshtein distance between two sequences. */
export function editDistance<T>(a: readonly T[], b: readonly T[]): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(substitution, previous[j]! + 1, current[j - 1]! + 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

export interface AccuracyCount {
  /** Units (words or characters) of the reference text. */
  total: number;
  /** Edit distance of the read text from it. */
  errors: number;
}

const words = (text: string) => text.split(/\s+/u).filter((w) => w.length > 0);
const characters = (text: string) => Array.from(text.replace(/\s+/gu, ''));

export function wordErrors(expected: string, read: string): AccuracyCount {
  const reference = words(expected);
  return { total: reference.length, errors: editDistance(reference, words(read)) };
}

/** Characters, whitespace ignored (CJK text is written without spaces). */
export function characterErrors(expected: string, read: string): AccuracyCount {
  const reference = characters(expected);
  return { total: reference.length, errors: editDistance(reference, characters(read)) };
}

/** Accuracy over several samples: 1 - total errors / total reference units. */
export function accuracy(counts: readonly AccuracyCount[]): number {
  const total = counts.reduce((sum, c) => sum + c.total, 0);
  const errors = counts.reduce((sum, c) => sum + c.errors, 0);
  return total === 0 ? 1 : Math.max(0, 1 - errors / total);
}
