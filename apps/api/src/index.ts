export { type ApiAppOptions, type BuildAppOptions, BODY_LIMIT_BYTES, apiPlugin, buildApp } from './app.ts';
export { type ApiContext, type ApiContextOverrides, createApiContext } from './context.ts';
export { type ModelLimits, loadModelLimits, modelLimitsFromManifest } from './model-limits.ts';
export { KeyRegistry, type Principal, sha256Hex } from './plugins/auth.ts';
export { toGenerationView } from './services/generation-view.ts';
