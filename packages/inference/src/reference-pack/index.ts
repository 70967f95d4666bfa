/** The reference model pack: its builder and its manifest, for the pack CLI and for tests. */
export { buildReferencePack, type ReferencePackOptions, referencePackManifest } from './build-pack.ts';
export { REFERENCE_MANIFEST } from './reference-manifest.ts';
