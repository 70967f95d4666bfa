/** The reference model pack: its builder and its manifest, for the pack CLI and for tests. */
export { buildReferencePack, type ReferencePackOptions, referencePackManifest } from './build-pack.ts';
export { REFERENCE_MANIFEST } from './reference-manifest.ts';
/** What a semantic token means in the reference pack, for tests that read plans. */
export { decodeToken, encodeToken, PALETTE, Region } from './semantic-codebook.ts';
