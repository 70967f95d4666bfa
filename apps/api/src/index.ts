export { type ApiAppOptions, apiPlugin, BODY_LIMIT_BYTES, type BuildAppOptions, buildApp } from './app.ts';
export { type ApiContext, type ApiContextOverrides, createApiContext } from './context.ts';
export { loadModelLimits, type ModelLimits, modelLimitsFromManifest } from './model-limits.ts';
export { KeyRegistry, type Principal, sha256Hex } from './plugins/auth.ts';
export { toGenerationView } from './services/generation-view.ts';
