/**
 * End-to-end fixtures: a real redis-server, a real S3-protocol server, the reference
 * model pack and the application processes, talking over loopback only. Tests see the
 * system the way a client does: over HTTP.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildReferencePack } from '../../packages/inference/src/reference-pack/build-pack.ts';
import { freePort } from '../../packages/testing/src/free-port.ts';
import { type RedisServerHandle, startRedisServer } from '../../packages/testing/src/redis-server.ts';
import { type S3ServerHandle, startS3Server } from '../../packages/testing/src/s3-server.ts';
import {
  REPO_ROOT,
  type RunningStack,
  type StackOptions,
  startStack,
} from '../../scripts/stack/start-stack.ts';

export const API_KEY = 'e2e-test-key-0123456789abcdef';

/** The pack `npm test` builds before running tests; built into a temp dir when absent. */
export async function referencePackPath(): Promise<string> {
  const built = join(REPO_ROOT, 'model-packs/reference');
  if (existsSync(join(built, 'model.json'))) return built;
  const dir = await mkdtemp(join(tmpdir(), 'glm-pack-'));
  await buildReferencePack(dir);
  return dir;
}

/** The application processes and an object store, on a Redis that runs apart from them. */
export interface StackSystem {
  s3: S3ServerHandle;
  stack: RunningStack;
  client: ApiClient;
  logs: string[];
  /** Stops the processes and the object store; the Redis stays up. */
  stop(): Promise<void>;
}

export interface E2eSystem extends StackSystem {
  redis: RedisServerHandle;
  /** Stops everything, the Redis server included. */
  stop(): Promise<void>;
}

export type SystemOptions = Partial<
  Pick<StackOptions, 'planners' | 'decoders' | 'evaluators' | 'env' | 'decoderEnv' | 'modelPackPath'>
>;

/** Short lock and stall timings so a killed worker's job is picked up again within seconds. */
export const FAST_RECOVERY_ENV = {
  LOCK_DURATION_MS: '4000',
  STALLED_INTERVAL_MS: '1000',
  JOB_BACKOFF_MS: '200',
};

/** The system on a redis-server of its own. */
export async function startSystem(options: SystemOptions = {}): Promise<E2eSystem> {
  const redis = await startRedisServer();
  try {
    const system = await startSystemOn(redis.url, options);
    return {
      ...system,
      redis,
      async stop() {
        await system.stop();
        await redis.stop();
      },
    };
  } catch (error) {
    await redis.stop();
    throw error;
  }
}

/**
 * API_KEYS holding API_KEY for `tenant`. A test client polls much faster than a person:
 * its key gets a budget to match, and whatever else a test sets (`max_in_flight`).
 */
export function apiKeysFor(tenant: string, limits: { max_in_flight?: number } = {}): string {
  return JSON.stringify([
    {
      sha256: createHash('sha256').update(API_KEY).digest('hex'),
      tenant,
      rate_per_minute: 100_000,
      ...limits,
    },
  ]);
}

/** The system on the Redis at `redisUrl` (one server or a cluster), which the caller runs and stops. */
export async function startSystemOn(redisUrl: string, options: SystemOptions = {}): Promise<StackSystem> {
  const s3 = await startS3Server();
  const logs: string[] = [];
  try {
    const stack = await startStack({
      redisUrl,
      s3: {
        endpoint: s3.endpoint,
        bucket: s3.bucket,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
      },
      port: await freePort(),
      devApiKey: 'e2e-unused-dev-key-0123456789',
      modelPackPath: options.modelPackPath ?? (await referencePackPath()),
      readyTimeoutMs: 600_000,
      env: {
        LOG_LEVEL: 'warn',
        API_KEYS: apiKeysFor('e2e'),
        ...FAST_RECOVERY_ENV,
        ...options.env,
      },
      ...(options.decoderEnv ? { decoderEnv: options.decoderEnv } : {}),
      planners: options.planners ?? 1,
      decoders: options.decoders ?? 1,
      // Scoring costs CPU the other tests do not need: only the tests about it start evaluators.
      evaluators: options.evaluators ?? 0,
      onLine: (name, line) => {
        logs.push(`${name}: ${line}`);
        if (logs.length > 2000) logs.shift();
      },
    });
    return {
      s3,
      stack,
      logs,
      client: new ApiClient(stack.apiUrl, API_KEY),
      async stop() {
        await stack.stop();
        await s3.stop();
      },
    };
  } catch (error) {
    await s3.stop();
    throw new Error(`${(error as Error).message}\n${logs.slice(-40).join('\n')}`);
  }
}

export interface GenerationView {
  id: string;
  status: string;
  progress: { stage: string; step?: number; total?: number };
  outputs: Array<{
    url: string;
    width: number;
    height: number;
    format: string;
    bytes: number;
    sha256: string;
  }>;
  preview?: { url: string; width: number; height: number };
  error?: { code: string; message: string };
  input: Record<string, unknown>;
  timings: Record<string, number>;
}

const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly key: string,
  ) {}

  request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${this.key}`);
    if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
    return fetch(new URL(path, this.baseUrl), { ...init, headers });
  }

  async submit(body: Record<string, unknown>): Promise<GenerationView> {
    const res = await this.request('/v1/generations', { method: 'POST', body: JSON.stringify(body) });
    if (res.status !== 202 && res.status !== 200)
      throw new Error(`submit: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as GenerationView;
  }

  async get(id: string): Promise<GenerationView> {
    const res = await this.request(`/v1/generations/${id}`);
    if (!res.ok) throw new Error(`get ${id}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as GenerationView;
  }

  async cancel(id: string): Promise<GenerationView> {
    const res = await this.request(`/v1/generations/${id}/cancel`, { method: 'POST' });
    if (!res.ok) throw new Error(`cancel ${id}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as GenerationView;
  }

  /** Polls until `until` holds (default: a terminal status). */
  async waitFor(
    id: string,
    until: (g: GenerationView) => boolean = (g) => TERMINAL.has(g.status),
    timeoutMs = 120_000,
  ): Promise<GenerationView> {
    const deadline = Date.now() + timeoutMs;
    let last: GenerationView | undefined;
    while (Date.now() < deadline) {
      last = await this.get(id);
      if (until(last)) return last;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`generation ${id} did not reach the expected state; last: ${JSON.stringify(last)}`);
  }

  /** Downloads a URL the API returned (its own streaming route or a presigned object URL). */
  async download(url: string): Promise<Buffer> {
    const sameOrigin = new URL(url).origin === new URL(this.baseUrl).origin;
    const res = await fetch(url, sameOrigin ? { headers: { authorization: `Bearer ${this.key}` } } : {});
    if (!res.ok) throw new Error(`download ${url}: HTTP ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }
}

/**
 * Runs `fixtures/admit-then-die.ts` against the Redis at `redisUrl` and `s3`: an API
 * process that stores generation `id` and is killed before enqueuing its job. Resolves
 * with the signal that ended it.
 */
export async function admitThenDie(
  id: string,
  redisUrl: string,
  s3: S3ServerHandle,
): Promise<NodeJS.Signals | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'tests/e2e/fixtures/admit-then-die.ts', id], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      REDIS_URL: redisUrl,
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: s3.bucket,
      S3_ACCESS_KEY_ID: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      MODEL_PACK_PATH: await referencePackPath(),
      LOG_LEVEL: 'silent',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (_code, signal) => resolve(signal));
  });
}
