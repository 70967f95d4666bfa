/** The packs this project builds from code: their builder, specs and manifests, for the pack CLI, benchmarks and tests. */
export {
  buildPack,
  buildReferencePack,
  type PackSpec,
  REFERENCE_PACK,
  type ReferencePackOptions,
  referencePack,
  referencePackManifest,
} from './build-pack.ts';
export {
  DEFAULT_FIXED_COST_WORK,
  FIXED_COST_MANIFEST,
  fixedCostPack,
  fixedCostVelocity,
  WORK_UNIT_FLOPS,
} from './fixed-cost-pack.ts';
export { DType, GraphBuilder } from './graph-builder.ts';
export { PACK_NAMES, type PackName, type PackOptions, packSpec } from './packs.ts';
export { REFERENCE_MANIFEST, withoutReferenceImages } from './reference-manifest.ts';
/** What a semantic token means in the reference pack, for tests that read plans. */
export { decodeToken, encodeToken, PALETTE, Region } from './semantic-codebook.ts';
export { denoiserInputs, ZERO_COST_MANIFEST, zeroCostPack } from './zero-cost-pack.ts';
