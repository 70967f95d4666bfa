import { describe, expect, it } from 'vitest';
import { accuracy, characterErrors, editDistance, wordErrors } from './text-accuracy.ts';

describe('text accuracy', () => {
  it('counts insertions, deletions and substitutions', () => {
    expect(editDistance([...'kitten'], [...'sitting'])).toBe(3);
    expect(editDistance([], [...'abc'])).toBe(3);
    expect(editDistance([...'same'], [...'same'])).toBe(0);
  });

  it('scores words and characters, the way the issue states its targets', () => {
    expect(wordErrors('BANANA AND MANGO', 'BAMAMWA AWG MAG')).toEqual({ total: 3, errors: 3 });
    expect(wordErrors('NOW OPEN', 'NOW  OPEN\n')).toEqual({ total: 2, errors: 0 });
    expect(wordErrors('NOW OPEN', 'HOW OPEH')).toEqual({ total: 2, errors: 2 });
    expect(characterErrors('新年快乐', '新 年快')).toEqual({ total: 4, errors: 1 });
    expect(accuracy([wordErrors('A B', 'A B'), wordErrors('C D', 'C X')])).toBe(0.75);
    expect(accuracy([wordErrors('A', 'X Y Z W')])).toBe(0);
  });
});
