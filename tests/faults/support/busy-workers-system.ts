/**
 * The system the worker-crash and scale-down faults load: two planners and two decoders
 * on the size-limited pack, with the shipped lock and stalled-check timings (not the e2e
 * suite's shorter ones), one tenant allowed any number of generations in flight, and the
 * test's own connection to the store and the stage queues.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommonEnv } from '@glm-image/shared/env';
import { GenerationStore } from '@glm-image/shared/generation-store';
import { createDecodeQueue, createPlanQueue, queueSettingsFromEnv } from '@glm-image/shared/queues';
import { closeRedis, createRedis, type RedisClient } from '@glm-image/shared/redis';
import type { Queue } from 'bullmq';
import { apiKeysFor, type E2eSystem, startSystem } from '../../e2e/harness.ts';
import { buildSizeLimitedPack } from './size-limited-pack.ts';

export interface BusyWorkersSystem {
  system: E2eSystem;
  redis: RedisClient;
  store: GenerationStore;
  planQueue: Queue;
  decodeQueue: Queue;
  /** Stops everything and deletes the pack; safe after a failed start. */
  stop(): Promise<void>;
}

export interface BusyWorkersOptions {
  tenant: string;
  /** More environment for every process (a variable set to '' is unset). */
  env?: Record<string, string>;
  decoderEnv?: Record<string, string>;
}

export async function startBusyWorkersSystem(options: BusyWorkersOptions): Promise<BusyWorkersSystem> {
  const packDir = await mkdtemp(join(tmpdir(), 'glm-fault-pack-'));
  try {
    await buildSizeLimitedPack(packDir);
    const system = await startSystem({
      planners: 2,
      decoders: 2,
      modelPackPath: packDir,
      env: {
        // Unset: the shipped lock and stall-check timings.
        LOCK_DURATION_MS: '',
        STALLED_INTERVAL_MS: '',
        API_KEYS: apiKeysFor(options.tenant, { max_in_flight: 10_000 }),
        ...options.env,
      },
      ...(options.decoderEnv ? { decoderEnv: options.decoderEnv } : {}),
    });
    const redis = createRedis(system.redis.url);
    const settings = queueSettingsFromEnv(parseCommonEnv({ REDIS_URL: system.redis.url }));
    const planQueue = createPlanQueue(redis, settings);
    const decodeQueue = createDecodeQueue(redis, settings);
    return {
      system,
      redis,
      store: new GenerationStore(redis),
      planQueue,
      decodeQueue,
      async stop() {
        await planQueue.close();
        await decodeQueue.close();
        await closeRedis(redis);
        await system.stop();
        await rm(packDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(packDir, { recursive: true, force: true });
    throw error;
  }
}
