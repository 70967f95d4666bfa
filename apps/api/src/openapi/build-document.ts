import { REFERENCE_MANIFEST } from '@glm-image/inference/reference-pack';
import { buildApp } from '../app.ts';
import { parseApiEnv } from '../env.ts';
import { modelLimitsFromManifest } from '../model-limits.ts';

/**
 * The OpenAPI document exactly as the API serves it at /openapi.json, built in-process:
 * the app is assembled and closed again without listening or serving a request. Its
 * queues connect to Redis as they are created, so the caller names a Redis that
 * answers (a throwaway one is fine); no object store or model pack is needed. The client
 * SDK's types are generated from this.
 */
export async function buildOpenApiDocument(redisUrl: string): Promise<Record<string, unknown>> {
  const env = parseApiEnv({
    REDIS_URL: redisUrl,
    // Never contacted: the object store is reached only while serving requests.
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
