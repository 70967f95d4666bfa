/**
 * `npm start`: the whole system on one machine. Starts a redis-server and an S3-protocol
 * server unless REDIS_URL / S3_ENDPOINT point elsewhere, builds the reference model pack
 * if it is missing, then the API, one planner, one decoder and one evaluator. The
 * environment is checked first, against the schemas of every process it will start: a bad one stops
 * here with one message listing every problem (exit 78), before anything runs. A process
 * that dies is restarted, unless it exits 78 (its configuration is wrong, and a restart
 * cannot fix that): then everything stops. SIGINT or SIGTERM stops everything it started.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { buildReferencePack } from '../packages/inference/src/reference-pack/build-pack.ts';
import { EX_CONFIG } from '../packages/shared/src/env.ts';
import { redisAnswers } from '../packages/shared/src/redis.ts';
import { freePort } from '../packages/testing/src/free-port.ts';
import { durableRedisArgs } from '../packages/testing/src/redis-server.ts';
import { ManagedProcess } from './stack/managed-process.ts';
import { formatProblems, stackEnvProblems } from './stack/stack-env.ts';
import { REPO_ROOT, StackConfigError, startStack } from './stack/start-stack.ts';

const env = process.env;
const dataDir = resolve(REPO_ROOT, env.LOCAL_DATA_DIR ?? '.local');
const port = Number(env.PORT ?? 3000);
const host = env.HOST ?? '127.0.0.1';
const devApiKey = env.DEV_API_KEY || `dev_${randomBytes(18).toString('hex')}`;
const modelPackPath = resolve(REPO_ROOT, env.MODEL_PACK_PATH ?? 'model-packs/reference');

const problems = stackEnvProblems(env, { devApiKey, modelPackPath });
if (problems.length > 0) {
  process.stderr.write(formatProblems(problems));
  process.exit(EX_CONFIG);
}

const print = (name: string, line: string) => console.log(`${name.padEnd(10)} | ${line}`);
const services: ManagedProcess[] = [];

async function waitFor(url: string, probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 150; i += 1) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

let redisUrl = env.REDIS_URL;
if (!redisUrl) {
  const redisPort = Number(env.LOCAL_REDIS_PORT ?? (await freePort()));
  const dir = join(dataDir, 'redis');
  await mkdir(dir, { recursive: true });
  const redis = new ManagedProcess({
    name: 'redis',
    command: 'redis-server',
    args: durableRedisArgs(redisPort, dir),
    env,
    onLine: print,
  });
  redis.start();
  services.push(redis);
  redisUrl = `redis://127.0.0.1:${redisPort}`;
  await waitFor(redisUrl, () => redisAnswers(redisUrl!));
}

let s3 = {
  endpoint: env.S3_ENDPOINT ?? '',
  bucket: env.S3_BUCKET ?? 'generations',
  accessKeyId: env.S3_ACCESS_KEY_ID ?? 'S3RVER',
  secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? 'S3RVER',
};
if (!env.S3_ENDPOINT) {
  const s3Port = Number(env.LOCAL_S3_PORT ?? (await freePort()));
  const server = new ManagedProcess({
    name: 's3',
    command: process.execPath,
    args: [
      '--import',
      'tsx',
      'scripts/stack/s3-server.ts',
      '--port',
      String(s3Port),
      '--dir',
      join(dataDir, 's3'),
      '--bucket',
      s3.bucket,
    ],
    cwd: REPO_ROOT,
    env: { ...env, AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING: 'true' },
    onLine: print,
  });
  server.start();
  services.push(server);
  s3 = { ...s3, endpoint: `http://127.0.0.1:${s3Port}`, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  await waitFor(s3.endpoint, async () => (await fetch(s3.endpoint)).status > 0);
}

if (!existsSync(join(modelPackPath, 'model.json'))) {
  print('build', `building the reference model pack into ${modelPackPath}`);
  await buildReferencePack(modelPackPath);
}

/** A process rejected its configuration: its own message is above; stop everything, once. */
const stopForConfig = async (error: StackConfigError) => {
  console.error(`\nnpm start: ${error.message}`);
  await Promise.all([stack?.stop(), ...services.map((s) => s.stop())]);
  process.exit(EX_CONFIG);
};

let stack: Awaited<ReturnType<typeof startStack>> | undefined;
stack = await startStack({
  redisUrl,
  s3,
  port,
  host,
  devApiKey,
  modelPackPath,
  onLine: print,
  onConfigError: (name) => void stopForConfig(new StackConfigError(name)),
}).catch(async (error) => {
  if (error instanceof StackConfigError) return stopForConfig(error) as never;
  console.error(error);
  await Promise.all(services.map((s) => s.stop()));
  process.exit(1);
});

console.log(`
  GLM-Image serving is up.

  API         ${stack.apiUrl}   (docs: ${stack.apiUrl}/docs)
  API key     ${devApiKey}
  Redis       ${redisUrl}
  S3          ${s3.endpoint}  bucket ${s3.bucket}

  Try it:
    curl -s ${stack.apiUrl}/v1/generations \\
      -H 'Authorization: Bearer ${devApiKey}' -H 'Content-Type: application/json' \\
      -H 'Prefer: wait=60' \\
      -d '{"prompt":"a red circle on a blue background with a sign that says \\"HELLO\\"","width":512,"height":512,"steps":20}'
`);

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  print('stack', `${signal}: stopping`);
  await stack.stop();
  await Promise.all(services.map((s) => s.stop()));
  process.exit(0);
};
process.once('SIGINT', () => void shutdown('SIGINT'));
process.once('SIGTERM', () => void shutdown('SIGTERM'));
