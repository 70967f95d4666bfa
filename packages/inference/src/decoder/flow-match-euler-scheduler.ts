import type { ModelPackManifest } from '../model-pack-manifest.ts';

export type FlowMatchEulerConfig = ModelPackManifest['decoder']['scheduler'];

/**
 * GLM-Image's flow-matching schedule with Euler steps, shaped like diffusers'
 * `FlowMatchEulerDiscreteScheduler`: `setTimesteps` once per image, then `step` once
 * per denoiser call.
 *
 * Schedule: integer timesteps `linspace(1000, 1, steps + 1)[:-1]` (truncated, as numpy's
 * `astype(int64)` does), `sigma = t / numTrainTimesteps`, then the resolution-dependent
 * shift `mu = sqrt(imageSeqLen / baseSeqLen) * maxShift + baseShift` applied through
 * the manifest's time-shift rule. Larger images get more steps spent at high noise;
 * skipping the shift is the known cause of washed-out, grainy large images.
 */
export class FlowMatchEulerScheduler {
  /** Shifted sigmas, one per step plus a terminal 0. */
  sigmas: Float64Array = new Float64Array(0);
  /** What the denoiser receives at each step: shifted sigma * numTrainTimesteps. */
  timesteps: Float64Array = new Float64Array(0);
  /** The shift of the current schedule. */
  mu = 0;

  constructor(readonly config: FlowMatchEulerConfig) {}

  /** The shift for an image of `imageSeqLen` latent patches ((H/16) * (W/16)). */
  computeMu(imageSeqLen: number): number {
    const { baseSeqLen, maxShift, baseShift } = this.config;
    return Math.sqrt(imageSeqLen / baseSeqLen) * maxShift + baseShift;
  }

  /** Applies the time shift to an unshifted sigma in (0, 1]. */
  shiftSigma(sigma: number, mu: number): number {
    const scale = this.config.timeShift === 'exponential' ? Math.exp(mu) : mu;
    return scale / (scale + (1 / sigma - 1));
  }

  setTimesteps(steps: number, imageSeqLen: number): void {
    if (!Number.isInteger(steps) || steps < 1)
      throw new RangeError(`steps must be a positive integer, got ${steps}`);
    const train = this.config.numTrainTimesteps;
    this.mu = this.computeMu(imageSeqLen);
    this.sigmas = new Float64Array(steps + 1); // last entry stays 0: the clean image
    this.timesteps = new Float64Array(steps);
    // numpy linspace: i * ((stop - start) / (num - 1)) + start, same operation order.
    const delta = (1 - train) / steps;
    for (let i = 0; i < steps; i += 1) {
      const t = Math.trunc(i * delta + train);
      const sigma = this.shiftSigma(t / train, this.mu);
      this.sigmas[i] = sigma;
      this.timesteps[i] = sigma * train;
    }
  }

  get numSteps(): number {
    return this.timesteps.length;
  }

  /** One Euler step: x <- x + (sigma[i+1] - sigma[i]) * v. Returns a new array. */
  step(velocity: Float32Array, index: number, sample: Float32Array): Float32Array {
    if (index < 0 || index >= this.numSteps)
      throw new RangeError(`step index ${index} outside 0..${this.numSteps - 1}`);
    if (velocity.length !== sample.length) throw new RangeError('velocity and sample differ in length');
    const dt = (this.sigmas[index + 1] as number) - (this.sigmas[index] as number);
    const next = new Float32Array(sample.length);
    for (let k = 0; k < sample.length; k += 1) next[k] = (sample[k] as number) + dt * (velocity[k] as number);
    return next;
  }
}
