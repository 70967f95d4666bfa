import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelPackManifest } from '@glm-image/inference/model-pack-manifest';
import { REFERENCE_MANIFEST } from '@glm-image/inference/reference-pack';
import type { GenerationRecord } from '@glm-image/shared/generation';
import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import { type S3ServerHandle, startS3Server } from '@glm-image/testing/s3-server';
import type { FastifyInstance } from 'fastify';
import { type BuildAppOptions, buildApp } from '../app.ts';
import { parseApiEnv } from '../env.ts';
import { sha256Hex } from '../plugins/auth.ts';
import { generateWebhookSecret } from '../webhooks/signing.ts';
import { type TableResolver, TEST_WEBHOOK_HOSTS, tableResolver } from './table-resolver.ts';

/**
 * The API against a real redis-server and a real S3 server, each on a free port with
 * its own data directory, and a model pack manifest written from the reference pack's.
 * No workers run: tests move records forward through the GenerationStore themselves.
 * Webhook host names resolve from a table, never through DNS.
 */

export const KEYS = {
  acme: 'test-key-acme-0123456789',
  globex: 'test-key-globex-0123456789',
  admin: 'test-key-admin-0123456789',
  /** Three requests per rate-limit window, two generations in flight. */
  tight: 'test-key-tight-0123456789',
  dev: 'test-key-dev-0123456789abc',
} as const;

/** The app's decorators under the names tests reach for. */
export interface ApiStackContext {
  env: FastifyInstance['env'];
  redis: FastifyInstance['redis'];
  store: FastifyInstance['store'];
  lifecycle: FastifyInstance['lifecycle'];
  planQueue: FastifyInstance['queues']['plan'];
  decodeQueue: FastifyInstance['queues']['decode'];
  objects: FastifyInstance['objects'];
  metrics: FastifyInstance['metrics'];
}

export interface ApiStack {
  app: FastifyInstance;
  context: ApiStackContext;
  redis: RedisServerHandle;
  s3: S3ServerHandle;
  /** The resolver the submit-time webhook check used; `lookups` lists the names it was asked for. */
  dns: TableResolver;
  auth(key: keyof typeof KEYS): { authorization: string };
  /** Stores a record as a worker would, moving it forward step by step. */
  advance(id: string, steps: Array<[GenerationRecord['status'], Partial<GenerationRecord>?]>): Promise<void>;
  close(): Promise<void>;
}

export async function startApiStack(
  options: {
    rateLimitWindowMs?: number;
    env?: Record<string, string>;
    dns?: TableResolver;
    /** The model pack manifest the API reads; the reference pack's by default. */
    manifest?: ModelPackManifest;
    /** Logs as the API process writes them (server.ts); none by default. */
    logger?: BuildAppOptions['logger'];
    trustProxy?: BuildAppOptions['trustProxy'];
  } = {},
) {
  const redis = await startRedisServer();
  const s3 = await startS3Server();
  const packDir = await mkdtemp(join(tmpdir(), 'glm-api-pack-'));
  await writeFile(join(packDir, 'model.json'), JSON.stringify(options.manifest ?? REFERENCE_MANIFEST));
  const apiKeys = [
    { sha256: sha256Hex(KEYS.acme), tenant: 'acme', priority: 5 },
    { sha256: sha256Hex(KEYS.globex), tenant: 'globex' },
    { sha256: sha256Hex(KEYS.admin), tenant: 'ops', admin: true },
    { sha256: sha256Hex(KEYS.tight), tenant: 'tight', rate_per_minute: 3, max_in_flight: 2 },
  ];
  const env = parseApiEnv({
    REDIS_URL: redis.url,
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: s3.bucket,
    S3_REGION: s3.region,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    MODEL_PACK_PATH: packDir,
    API_KEYS: JSON.stringify(apiKeys),
    DEV_API_KEY: KEYS.dev,
    // Every tenant may ask for webhooks unless a test says otherwise.
    WEBHOOK_SECRETS: JSON.stringify(
      Object.fromEntries(['acme', 'globex', 'ops', 'tight', 'dev'].map((t) => [t, generateWebhookSecret()])),
    ),
    ...options.env,
  });
  const dns = options.dns ?? tableResolver(TEST_WEBHOOK_HOSTS);
  const app = await buildApp({
    env,
    webhookResolver: dns,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
    ...(options.rateLimitWindowMs === undefined ? {} : { rateLimitWindowMs: options.rateLimitWindowMs }),
  });
  const context: ApiStackContext = {
    env: app.env,
    redis: app.redis,
    store: app.store,
    lifecycle: app.lifecycle,
    planQueue: app.queues.plan,
    decodeQueue: app.queues.decode,
    objects: app.objects,
    metrics: app.metrics,
  };
  const stack: ApiStack = {
    app,
    context,
    redis,
    s3,
    dns,
    auth: (key) => ({ authorization: `Bearer ${KEYS[key]}` }),
    async advance(id, steps) {
      for (const [status, patch] of steps) {
        const moved = await context.store.transition(id, status, patch ?? {});
        if (!moved) throw new Error(`transition of ${id} to ${status} was refused`);
      }
    },
    async close() {
      await app.close();
      await s3.stop();
      await redis.stop();
      await rm(packDir, { recursive: true, force: true });
    },
  };
  return stack;
}
