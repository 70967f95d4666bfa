/**
 * What an in-process worker test needs: a real redis-server and S3 server on free ports,
 * the environment a worker would read to reach them, and a generation lifecycle to
 * create records and read them back the way the API does.
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildReferencePack } from '@glm-image/inference/reference-pack';
import { GenerationStore } from '@glm-image/shared/generation-store';
import { keyPrefixOf } from '@glm-image/shared/keys';
import { GenerationLifecycle } from '@glm-image/shared/lifecycle';
import { ServiceMetrics } from '@glm-image/shared/metrics';
import { closeRedis, createRedis, type RedisClient } from '@glm-image/shared/redis';
import { ObjectStore } from '@glm-image/shared/storage';
import { freePort } from './free-port.ts';
import { type RedisServerHandle, startRedisServer } from './redis-server.ts';
import { objectStoreConfigFor, type S3ServerHandle, startS3Server } from './s3-server.ts';

export interface WorkerFixture {
  redisServer: RedisServerHandle;
  s3: S3ServerHandle;
  redis: RedisClient;
  store: GenerationStore;
  lifecycle: GenerationLifecycle;
  objects: ObjectStore;
  /** Variables for a worker's env parser: this fixture's Redis, S3 and pack, a free health port. */
  workerEnv(modelPackPath: string, extra?: Record<string, string>): Promise<Record<string, string>>;
  /** Resolves with the record once `until` holds; fails after `timeoutMs`. */
  waitForRecord(
    id: string,
    until: (status: string) => boolean,
    timeoutMs?: number,
  ): ReturnType<GenerationStore['get']>;
  close(): Promise<void>;
}

const QUEUE_PREFIX = '{glm}';

export async function startWorkerFixture(): Promise<WorkerFixture> {
  const [redisServer, s3] = await Promise.all([startRedisServer(), startS3Server()]);
  const redis = createRedis(redisServer.url);
  const store = new GenerationStore(redis, { keyPrefix: keyPrefixOf(QUEUE_PREFIX) });
  const lifecycle = new GenerationLifecycle({
    store,
    metrics: new ServiceMetrics({ collectDefaults: false }),
    webhooks: null,
    log: { error() {} },
  });
  const objects = new ObjectStore(objectStoreConfigFor(s3));
  return {
    redisServer,
    s3,
    redis,
    store,
    lifecycle,
    objects,
    async workerEnv(modelPackPath, extra = {}) {
      return {
        REDIS_URL: redisServer.url,
        QUEUE_PREFIX,
        S3_ENDPOINT: s3.endpoint,
        S3_BUCKET: s3.bucket,
        S3_REGION: s3.region,
        S3_ACCESS_KEY_ID: s3.accessKeyId,
        S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
        MODEL_PACK_PATH: modelPackPath,
        METRICS_PORT: String(await freePort()),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'silent',
        ...extra,
      };
    },
    async waitForRecord(id, until, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const record = await store.get(id);
        if (record && until(record.status)) return record;
        if (Date.now() > deadline) {
          throw new Error(`generation ${id} is ${record?.status ?? 'missing'} after ${timeoutMs} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    async close() {
      objects.close();
      await closeRedis(redis);
      await Promise.all([redisServer.stop(), s3.stop()]);
    },
  };
}

/**
 * The reference pack `npm test` builds before running tests, or one built now into a
 * temporary directory when it is absent (a test run on its own).
 */
export async function referencePackPath(): Promise<string> {
  const built = fileURLToPath(new URL('../../../model-packs/reference', import.meta.url));
  if (existsSync(join(built, 'model.json'))) return built;
  const dir = await mkdtemp(join(tmpdir(), 'glm-pack-'));
  await buildReferencePack(dir);
  return dir;
}
