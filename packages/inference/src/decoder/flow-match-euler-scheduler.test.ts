import { describe, expect, it } from 'vitest';
import { REFERENCE_MANIFEST } from '../reference-pack/reference-manifest.ts';
import { FlowMatchEulerScheduler } from './flow-match-euler-scheduler.ts';

const CONFIG = REFERENCE_MANIFEST.decoder.scheduler; // 1000 train steps, base 256, 0.25 + 0.75, linear

/** Latent patches of an image: (H/16) * (W/16). */
const seqLen = (width: number, height: number) => (width / 16) * (height / 16);

/** The shifted sigma of integer timestep t, written out from the formulas. */
function expectedSigma(t: number, mu: number, rule: 'linear' | 'exponential' = 'linear'): number {
  const sigma = t / 1000;
  const scale = rule === 'linear' ? mu : Math.exp(mu);
  return scale / (scale + (1 / sigma - 1));
}

describe('FlowMatchEulerScheduler', () => {
  it('uses mu = 1.75 at 512x512 and 3.25 at 1024x1024', () => {
    const scheduler = new FlowMatchEulerScheduler(CONFIG);
    expect(scheduler.computeMu(seqLen(512, 512))).toBeCloseTo(Math.sqrt(1024 / 256) * 0.75 + 0.25, 12);
    expect(scheduler.computeMu(seqLen(512, 512))).toBeCloseTo(1.75, 12);
    expect(scheduler.computeMu(seqLen(1024, 1024))).toBeCloseTo(3.25, 12);
  });

  it('builds the 50-step schedule at 1024x1024', () => {
    const scheduler = new FlowMatchEulerScheduler(CONFIG);
    scheduler.setTimesteps(50, seqLen(1024, 1024));
    expect(scheduler.mu).toBeCloseTo(3.25, 12);
    expect(scheduler.sigmas).toHaveLength(51);
    expect(scheduler.timesteps).toHaveLength(50);
    // numpy: linspace(1000, 1, 51)[:-1].astype(int64) -> 1000, 980, ..., 500 (index 25), ..., 20.
    expect(scheduler.sigmas[0]).toBeCloseTo(1, 12); // t = 1000: sigma 1 stays 1 under any shift
    expect(scheduler.sigmas[25]).toBeCloseTo(expectedSigma(500, 3.25), 12);
    expect(scheduler.sigmas[25]).toBeCloseTo(3.25 / 4.25, 12);
    expect(scheduler.sigmas[49]).toBeCloseTo(expectedSigma(20, 3.25), 12);
    expect(scheduler.sigmas[50]).toBe(0);
    expect(scheduler.timesteps[25]).toBeCloseTo(expectedSigma(500, 3.25) * 1000, 9);
    expect(scheduler.timesteps[49]).toBeCloseTo(expectedSigma(20, 3.25) * 1000, 9);
  });

  it('builds a 28-step schedule at 512x512, truncating timesteps like numpy', () => {
    const scheduler = new FlowMatchEulerScheduler(CONFIG);
    scheduler.setTimesteps(28, seqLen(512, 512));
    // numpy: linspace(1000, 1, 29)[:-1].astype(int64) = 1000, 964, 928, 892, 857, ..., 500 (index 14), ..., 36.
    expect(scheduler.sigmas[0]).toBeCloseTo(1, 12);
    expect(scheduler.sigmas[4]).toBeCloseTo(expectedSigma(857, 1.75), 12);
    expect(scheduler.sigmas[14]).toBeCloseTo(expectedSigma(500, 1.75), 12);
    expect(scheduler.sigmas[27]).toBeCloseTo(expectedSigma(36, 1.75), 12);
    expect(scheduler.sigmas[28]).toBe(0);
  });

  it('spends more of the schedule at high noise for larger images', () => {
    const small = new FlowMatchEulerScheduler(CONFIG);
    const large = new FlowMatchEulerScheduler(CONFIG);
    small.setTimesteps(50, seqLen(512, 512));
    large.setTimesteps(50, seqLen(1024, 1024));
    expect(large.sigmas[25] as number).toBeGreaterThan(small.sigmas[25] as number);
  });

  it('applies the exponential time shift when the manifest asks for it', () => {
    const scheduler = new FlowMatchEulerScheduler({ ...CONFIG, timeShift: 'exponential' });
    scheduler.setTimesteps(50, seqLen(1024, 1024));
    expect(scheduler.sigmas[25]).toBeCloseTo(expectedSigma(500, 3.25, 'exponential'), 12);
  });

  it('takes Euler steps x + (sigma[i+1] - sigma[i]) * v and ends at sigma 0', () => {
    const scheduler = new FlowMatchEulerScheduler(CONFIG);
    scheduler.setTimesteps(4, seqLen(512, 512));
    // Integrating a constant velocity v from sigma 1 to 0 moves x by -v in total.
    let x: Float32Array = Float32Array.from([1, -2, 0.5]);
    const v = Float32Array.from([0.5, 1, -1]);
    const dt0 = (scheduler.sigmas[1] as number) - (scheduler.sigmas[0] as number);
    const first = scheduler.step(v, 0, x);
    expect(first[1]).toBeCloseTo(-2 + dt0 * 1, 6);
    x = first;
    for (let i = 1; i < scheduler.numSteps; i += 1) x = scheduler.step(v, i, x);
    expect(Array.from(x)).toEqual([expect.closeTo(0.5, 5), expect.closeTo(-3, 5), expect.closeTo(1.5, 5)]);
  });

  it('rejects out-of-range steps', () => {
    const scheduler = new FlowMatchEulerScheduler(CONFIG);
    expect(() => scheduler.setTimesteps(0, 1024)).toThrow(RangeError);
    scheduler.setTimesteps(2, 1024);
    expect(() => scheduler.step(new Float32Array(1), 2, new Float32Array(1))).toThrow(RangeError);
  });
});
