import type { ModelPackManifest } from '../model-pack-manifest.ts';
import type { PackSpec } from './build-pack.ts';
import { DType, GraphBuilder } from './graph-builder.ts';
import { denoiserInputs, ZERO_COST_MANIFEST, zeroCostPack } from './zero-cost-pack.ts';

/**
 * The fixed-cost pack: the zero-cost pack with a denoiser that spends a fixed, known
 * amount of arithmetic per image per step, so that in a benchmark the denoiser dominates
 * the way a real DiT does on a GPU while everything else stays as cheap as in the
 * zero-cost pack. The cost is a chain of `work` dense 128x128 matrix products per batch
 * entry (one work unit is 2 * 128^3 = 4.19 million floating-point operations), so it
 * grows linearly with the batch as a saturated accelerator does, and does not depend on
 * the image size. The products multiply by a permutation matrix: values never grow,
 * shrink or turn denormal, so every run costs the same.
 */

/** Side of the matrices multiplied; one work unit is one product. */
export const WORK_UNIT_SIDE = 128;
/** Floating-point operations in one work unit. */
export const WORK_UNIT_FLOPS = 2 * WORK_UNIT_SIDE ** 3;
/**
 * Work units per image per denoiser step in `npm run build:packs`'s fixed-cost pack: about
 * 19 ms on one core of the 2-core development machine (see BENCHMARKS.md).
 */
export const DEFAULT_FIXED_COST_WORK = 1024;

export const FIXED_COST_MANIFEST: ModelPackManifest = { ...ZERO_COST_MANIFEST, name: 'glm-image-fixed-cost' };

export function fixedCostPack(work: number = DEFAULT_FIXED_COST_WORK): PackSpec {
  if (!Number.isInteger(work) || work < 1)
    throw new RangeError(`work must be a positive integer, got ${work}`);
  return {
    ...zeroCostPack(FIXED_COST_MANIFEST),
    denoiser: () => buildFixedCostDenoiser(FIXED_COST_MANIFEST, work),
  };
}

function buildFixedCostDenoiser(manifest: ModelPackManifest, work: number): Uint8Array {
  const g = new GraphBuilder('fixed_cost_denoiser');
  const { sample } = denoiserInputs(g, manifest);
  const velocity = fixedCostVelocity(g, sample, work);
  g.output('velocity', velocity, DType.float, ['batch', manifest.decoder.latentChannels, 'lh', 'lw']);
  return g.toBytes(
    17,
    `GLM-Image fixed-cost pack: denoiser (velocity = sample, after ${work} x ${WORK_UNIT_SIDE}^3 multiply-adds per batch entry).`,
  );
}

/**
 * The fixed-cost denoiser's body: `sample` unchanged as the velocity, after `work` units
 * of arithmetic per batch entry. Exported for packs that build on it (the fault suite's
 * pack adds a size its denoiser cannot render).
 */
export function fixedCostVelocity(g: GraphBuilder, sample: string, work: number): string {
  const n = WORK_UNIT_SIDE;
  // Each batch entry gets its own [n, n] matrix, tied to the sample so that nothing can be
  // folded into a constant when the session is created.
  const perEntry = g.op('Reshape', [
    g.op('ReduceMean', [sample], { axes: [1, 2, 3], keepdims: 1 }),
    g.constInt64([-1, 1, 1], [3]),
  ]);
  const start = Array.from({ length: n * n }, (_, i) => (((i * 37) % 101) / 101) * 2 - 1);
  const shift = new Float32Array(n * n);
  for (let row = 0; row < n; row += 1) shift[row * n + ((row + 1) % n)] = 1;
  const permutation = g.constFloat(shift, [n, n], 'permutation');
  let x = g.op('Add', [g.op('Mul', [perEntry, g.scalar(0)]), g.constFloat(start, [n, n], 'start')]);
  for (let unit = 0; unit < work; unit += 1) x = g.op('MatMul', [x, permutation]);
  // The result reaches the output (times zero), so the products cannot be pruned either.
  const burnt = g.op('Reshape', [
    g.op('ReduceMean', [x], { axes: [1, 2], keepdims: 1 }),
    g.constInt64([-1, 1, 1, 1], [4]),
  ]);
  return g.op('Add', [sample, g.op('Mul', [burnt, g.scalar(0)])]);
}
