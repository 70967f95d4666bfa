import { describe, expect, it } from 'vitest';
import { bestMatch, matchSpan } from './character-errors.ts';

describe('span character errors', () => {
  it('finds the span inside a longer reading and counts nothing around it', () => {
    expect(matchSpan('HELLO', 'xx HELLO yy')).toEqual({ read: 'HELLO', cer: 0 });
    expect(matchSpan('NOW OPEN', 'sign: NOWOPEN!')).toEqual({ read: 'NOWOPEN', cer: 0 });
  });

  it('counts substitutions, insertions and deletions against the span length', () => {
    expect(matchSpan('HELLO', 'HELL0')).toEqual({ read: 'HELL0', cer: 0.2 });
    expect(matchSpan('NIGHT OWL', 'MIGHT OWL')).toEqual({ read: 'MIGHT OWL', cer: 1 / 8 });
    expect(matchSpan('ABCD', 'ABD').cer).toBe(0.25);
  });

  it('scores a span not found at all as 1, never above', () => {
    expect(matchSpan('HELLO', '')).toEqual({ read: '', cer: 1 });
    expect(matchSpan('HELLO', 'QZXJK').cer).toBe(1);
  });

  it('keeps case and reads whole code points (CJK included)', () => {
    expect(matchSpan('Hello', 'hello').cer).toBe(0.2);
    expect(matchSpan('新年快乐', '祝 新年 快乐').cer).toBe(0);
  });

  it('takes the best of several readings', () => {
    expect(bestMatch('STOP', ['ST0P', 'xx STOP', ''])).toEqual({ read: 'STOP', cer: 0 });
    expect(bestMatch('STOP', [])).toEqual({ read: '', cer: 1 });
  });
});
