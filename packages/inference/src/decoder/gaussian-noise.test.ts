import { describe, expect, it } from 'vitest';
import { gaussianNoise } from './gaussian-noise.ts';

describe('gaussianNoise', () => {
  it('gives bit-identical samples for the same seed', () => {
    const a = gaussianNoise(1234, 4097);
    const b = gaussianNoise(1234, 4097);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });

  it('gives unrelated samples for neighbouring seeds', () => {
    const a = gaussianNoise(7, 10_000);
    const b = gaussianNoise(8, 10_000);
    let dot = 0;
    for (let i = 0; i < a.length; i += 1) dot += (a[i] as number) * (b[i] as number);
    expect(Math.abs(dot / a.length)).toBeLessThan(0.05); // correlation near 0
  });

  it('uses seed bits above 32', () => {
    const a = gaussianNoise(5, 16);
    const b = gaussianNoise(5 + 2 ** 40, 16);
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });

  it('has mean 0 and variance 1', () => {
    const samples = gaussianNoise(42, 100_000);
    let sum = 0;
    let sumSq = 0;
    for (const x of samples) {
      sum += x;
      sumSq += x * x;
    }
    const mean = sum / samples.length;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(sumSq / samples.length - mean * mean).toBeCloseTo(1, 1);
  });

  it('rejects seeds that are not non-negative integers', () => {
    expect(() => gaussianNoise(-1, 4)).toThrow(RangeError);
    expect(() => gaussianNoise(1.5, 4)).toThrow(RangeError);
  });
});
