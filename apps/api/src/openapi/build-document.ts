import { REFERENCE_MANIFEST } from '@glm-image/inference/reference-pack';
import { buildApp } from '../app.ts';
import { parseApiEnv } from '../env.ts';
import { modelLimitsFromManifest } from '../model-limits.ts';

/**
 * The OpenAPI document exactly as the API serves it at /openapi.json, built in-process
 * with no Redis, object store or model pack: the app is assembled and closed again
 * without serving a request, so nothing it would talk to needs to exist. The client
 * SDK's types are generated from this.
 */
export async function buildOpenApiDocument(): Promise<Record<string, unknown>> {
  const env = parseApiEnv({
    // Nothing listens there; the app is closed before its connection would be used.
    REDIS_URL: 'redis://127.0.0.1:9',
    S3_ENDPOINT: 'http://127.0.0.1:9',
    LOG_LEVEL: 'silent',
  });
  const app = await buildApp({ env, limits: modelLimitsFromManifest(REFERENCE_MANIFEST) });
  try {
    return structuredClone(app.swagger()) as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}
