import { describe, expect, it } from 'vitest';
import { type SamplingParams, SeededRandom, sampleToken } from './sampler.ts';

const params = (p: Partial<SamplingParams> = {}): SamplingParams => ({
  temperature: 1,
  topP: 1,
  topK: 0,
  ...p,
});

function draw(logits: number[], allowed: number, p: SamplingParams, seed: number, n: number): number[] {
  const random = new SeededRandom(seed);
  const row = Float32Array.from(logits);
  return Array.from({ length: n }, () => sampleToken(row, allowed, p, random));
}

function histogram(values: number[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

// Probabilities proportional to 8:4:2:1:1 over five tokens.
const LOGITS = [Math.log(8), Math.log(4), Math.log(2), 0, 0];

describe('sampleToken', () => {
  it('gives the same tokens for the same seed and different tokens for another seed', () => {
    const flat = Array.from({ length: 1000 }, (_, i) => Math.sin(i));
    const a = draw(flat, 1000, params({ topP: 0.9 }), 42, 50);
    expect(draw(flat, 1000, params({ topP: 0.9 }), 42, 50)).toEqual(a);
    expect(draw(flat, 1000, params({ topP: 0.9 }), 43, 50)).not.toEqual(a);
  });

  it('never picks an index at or beyond `allowed`, however likely', () => {
    const logits = [0, 0, 0, 100, 100];
    const tokens = draw(logits, 3, params(), 1, 200);
    expect(Math.max(...tokens)).toBeLessThan(3);
    expect(new Set(tokens).size).toBe(3);
  });

  it('follows the distribution at temperature 1', () => {
    const counts = histogram(draw(LOGITS, 5, params(), 7, 4000));
    // expected shares 8/16, 4/16, 2/16, 1/16, 1/16
    expect((counts.get(0) ?? 0) / 4000).toBeCloseTo(0.5, 1);
    expect((counts.get(1) ?? 0) / 4000).toBeCloseTo(0.25, 1);
    expect(counts.get(4) ?? 0).toBeGreaterThan(0);
  });

  it('top-k keeps only the k most likely tokens', () => {
    expect(new Set(draw(LOGITS, 5, params({ topK: 2 }), 3, 500))).toEqual(new Set([0, 1]));
    expect(new Set(draw(LOGITS, 5, params({ topK: 1 }), 3, 50))).toEqual(new Set([0]));
  });

  it('top-p keeps the smallest set whose mass reaches p', () => {
    // masses: 0.5, 0.75, 0.875, ... -> p=0.7 needs {0, 1}; p=0.8 needs {0, 1, 2}; p=0.5 needs {0}
    expect(new Set(draw(LOGITS, 5, params({ topP: 0.7 }), 5, 500))).toEqual(new Set([0, 1]));
    expect(new Set(draw(LOGITS, 5, params({ topP: 0.8 }), 5, 500))).toEqual(new Set([0, 1, 2]));
    expect(new Set(draw(LOGITS, 5, params({ topP: 0.5 }), 5, 50))).toEqual(new Set([0]));
  });

  it('top-p applies to the top-k distribution, renormalised', () => {
    // top-k 3 leaves 8:4:2 (shares 0.57, 0.29, 0.14); p=0.8 then needs {0, 1}
    expect(new Set(draw(LOGITS, 5, params({ topK: 3, topP: 0.8 }), 9, 500))).toEqual(new Set([0, 1]));
  });

  it('lower temperature concentrates, temperature 0 is greedy', () => {
    const hot = histogram(draw(LOGITS, 5, params({ temperature: 2 }), 11, 3000));
    const cold = histogram(draw(LOGITS, 5, params({ temperature: 0.25 }), 11, 3000));
    expect(cold.get(0) ?? 0).toBeGreaterThan(hot.get(0) ?? 0);
    expect((cold.get(0) ?? 0) / 3000).toBeGreaterThan(0.9);
    expect(new Set(draw([1, 5, 5, 2], 4, params({ temperature: 0 }), 1, 20))).toEqual(new Set([1]));
  });

  it('finds the exact nucleus among many small entries', () => {
    // one dominant entry and 10,000 tiny ones holding most of the mass together
    const logits = [Math.log(1000), ...Array.from({ length: 10_000 }, () => 0)];
    const tokens = draw(logits, logits.length, params({ topP: 0.5 }), 13, 300);
    // entry 0 holds 1000/11000 of the mass, so top-p 0.5 must keep thousands of the small ones
    expect(new Set(tokens).size).toBeGreaterThan(200);
  });

  it('rejects logits with nothing finite in range', () => {
    expect(() =>
      sampleToken(Float32Array.from([Number.NaN, Number.NaN]), 2, params(), new SeededRandom(1)),
    ).toThrow(RangeError);
  });
});
