import { describe, expect, it } from 'vitest';
import { applyGuidance, guidanceEnabled } from './guidance.ts';

describe('classifier-free guidance', () => {
  it('combines v = v_u + g (v_c - v_u)', () => {
    const cond = Float32Array.from([1, 2, -1]);
    const uncond = Float32Array.from([0, 4, -1]);
    expect(Array.from(applyGuidance(cond, uncond, 1.5))).toEqual([1.5, 1, -1]);
    expect(Array.from(applyGuidance(cond, uncond, 1))).toEqual([1, 2, -1]);
  });

  it('skips the unconditional branch only for scales 0 and 1', () => {
    expect(guidanceEnabled(0)).toBe(false);
    expect(guidanceEnabled(1)).toBe(false);
    expect(guidanceEnabled(1.5)).toBe(true);
    expect(guidanceEnabled(0.5)).toBe(true);
  });

  it('rejects branches of different lengths', () => {
    expect(() => applyGuidance(new Float32Array(2), new Float32Array(3), 2)).toThrow(RangeError);
  });
});
