import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REFERENCE_MANIFEST } from '@glm-image/inference/reference-pack';
import { freePort } from '@glm-image/testing/free-port';
import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import { type S3ServerHandle, startS3Server } from '@glm-image/testing/s3-server';
import { afterAll, beforeAll, expect, it } from 'vitest';

/** The process: starts from its environment, serves, and drains open requests on SIGTERM. */

const serverPath = fileURLToPath(new URL('./server.ts', import.meta.url));
const DEV_KEY = 'dev-key-for-the-process-test';

let redis: RedisServerHandle;
let s3: S3ServerHandle;
let packDir: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  [redis, s3] = await Promise.all([startRedisServer(), startS3Server()]);
  packDir = await mkdtemp(join(tmpdir(), 'glm-api-pack-'));
  await writeFile(join(packDir, 'model.json'), JSON.stringify(REFERENCE_MANIFEST));
});
afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await s3?.stop();
  await redis?.stop();
  if (packDir) await rm(packDir, { recursive: true, force: true });
});

async function waitUntilServing(origin: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child?.exitCode !== null) throw new Error('the API process exited during start-up');
    const ok = await fetch(`${origin}/healthz`).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the API process did not start serving');
}

it('serves with the configured dev key and finishes an open request after SIGTERM before exiting', async () => {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, ['--import', 'tsx', serverPath], {
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      REDIS_URL: redis.url,
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: s3.bucket,
      S3_ACCESS_KEY_ID: s3.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      MODEL_PACK_PATH: packDir,
      DEV_API_KEY: DEV_KEY,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  await waitUntilServing(origin);
  expect(stderr).not.toContain(DEV_KEY);

  // Held open by Prefer: wait; the signal arrives while it is in flight.
  const open = fetch(`${origin}/v1/generations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${DEV_KEY}`, 'content-type': 'application/json', prefer: 'wait=2' },
    body: JSON.stringify({ prompt: 'drained' }),
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const res = await open;
  expect(res.status).toBe(202);
  expect(((await res.json()) as { status: string }).status).toBe('queued');
  const [code] = await exited;
  expect(code).toBe(0);
});
