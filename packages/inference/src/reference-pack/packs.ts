import type { PackSpec } from './build-pack.ts';
import { REFERENCE_PACK } from './build-pack.ts';
import { fixedCostPack } from './fixed-cost-pack.ts';
import { zeroCostPack } from './zero-cost-pack.ts';

/**
 * The packs `npm run build:packs` builds, by folder name: the reference pack that
 * workers serve by default, and the zero-cost and fixed-cost packs benchmarks use to
 * tell the serving layer's cost from the model's.
 */
export const PACK_NAMES = ['reference', 'zero-cost', 'fixed-cost'] as const;
export type PackName = (typeof PACK_NAMES)[number];

export interface PackOptions {
  /** Work units per image per denoiser step of the fixed-cost pack (see fixed-cost-pack.ts). */
  fixedCostWork?: number;
}

export function packSpec(name: PackName, options: PackOptions = {}): PackSpec {
  switch (name) {
    case 'reference':
      return REFERENCE_PACK;
    case 'zero-cost':
      return zeroCostPack();
    case 'fixed-cost':
      return fixedCostPack(options.fixedCostWork);
  }
}
