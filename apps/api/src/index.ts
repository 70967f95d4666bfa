/** @glm-image/api: the HTTP edge, as a Fastify app that the process and the tests build alike. */
export { type ApiAppOptions, apiPlugin, BODY_LIMIT_BYTES, type BuildAppOptions, buildApp } from './app.ts';
export { type ApiEnv, parseApiEnv } from './env.ts';
export { loadModelLimits, type ModelLimits, modelLimitsFromManifest } from './model-limits.ts';
