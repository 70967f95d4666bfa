/**
 * Submit throughput of the API against a bare Fastify endpoint that only calls
 * `queue.add` (same queue catalog and job options). Each server is its own process on
 * its own redis-server, both started with the same arguments; no workers run, so every
 * generation stays queued. Closed loop: `--clients` HTTP clients over kept-alive
 * connections, each sending its next submit when the last one is answered, for
 * `--seconds` per round; rounds alternate between the two servers so that a change of
 * load on the machine hits both alike. The figure is the median round of each.
 *
 *   node --import tsx bench/submit-throughput.ts [--rounds 3] [--seconds 4] [--clients 32]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REFERENCE_MANIFEST } from '@glm-image/inference/reference-pack';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import { freePort } from '@glm-image/testing/free-port';
import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import { sha256Hex } from '../apps/api/src/plugins/auth.ts';
import { postJson } from './support/http-client.ts';
import {
  type BenchProcess,
  cpuSeconds,
  type S3Process,
  setAppendFsync,
  startNodeProcess,
  startS3Process,
  waitForHttp,
} from './support/processes.ts';
import { goal, markdownTable, publish } from './support/report.ts';
import { median, ratio, round } from './support/stats.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    clients: { type: 'string', default: '32' },
    /** A diagnostic: run both sides with another AOF fsync policy (production keeps `always`). */
    appendfsync: { type: 'string', default: 'always' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const clients = Number(values.clients);
const API_KEY = 'bench-submit-key-0123456789abcdef';
const BODY = { prompt: 'a red circle on a blue background' };

interface Round {
  perSecond: number;
  answered: number;
  /** CPU seconds the server process used during the round. */
  serverCpu: number;
  /** Commands its Redis processed during the round. */
  redisCommands: number;
}

async function redisCommandsProcessed(url: string): Promise<number> {
  const redis = createRedis(url);
  try {
    return Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))?.[1] ?? Number.NaN);
  } finally {
    await closeRedis(redis);
  }
}

/** Submits from `clients` loops for `seconds`; answers per second. Anything but 202 is an error. */
async function measureRound(
  url: string,
  headers: Record<string, string>,
  server: BenchProcess,
  redisUrl: string,
): Promise<Round> {
  const cpuBefore = await cpuSeconds(server.pid);
  const commandsBefore = await redisCommandsProcessed(redisUrl);
  const until = performance.now() + seconds * 1000;
  let answered = 0;
  const loop = async () => {
    while (performance.now() < until) {
      const answer = await postJson(url, BODY, headers);
      if (answer.status !== 202) throw new Error(`${url} answered ${answer.status}: ${answer.body}`);
      answered += 1;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, loop));
  const perSecond = answered / ((performance.now() - started) / 1000);
  return {
    perSecond,
    answered,
    serverCpu: (await cpuSeconds(server.pid)) - cpuBefore,
    // Less the INFO call itself.
    redisCommands: (await redisCommandsProcessed(redisUrl)) - commandsBefore - 1,
  };
}

const servers: RedisServerHandle[] = [];
const processes: BenchProcess[] = [];
let s3: S3Process | undefined;
const packDir = await mkdtemp(join(tmpdir(), 'glm-bench-submit-'));
try {
  // The API reads only the manifest of its pack.
  await writeFile(join(packDir, 'model.json'), JSON.stringify(REFERENCE_MANIFEST));
  const [apiRedis, bareRedis] = [await startRedisServer(), await startRedisServer()];
  servers.push(apiRedis, bareRedis);
  for (const server of servers) await setAppendFsync(server.url, values.appendfsync!);
  s3 = await startS3Process();
  const [apiPort, barePort] = [await freePort(), await freePort()];
  const api = startNodeProcess('api', 'apps/api/src/server.ts', {
    REDIS_URL: apiRedis.url,
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: s3.bucket,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    MODEL_PACK_PATH: packDir,
    PORT: String(apiPort),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    API_KEYS: JSON.stringify([
      { sha256: sha256Hex(API_KEY), tenant: 'bench', rate_per_minute: 1e9, max_in_flight: 1e9 },
    ]),
  });
  const bare = startNodeProcess('bare', 'bench/support/bare-submit-server.ts', {
    REDIS_URL: bareRedis.url,
    PORT: String(barePort),
  });
  processes.push(api, bare);
  await waitForHttp(`http://127.0.0.1:${apiPort}/healthz`, 60_000, api.output);
  await waitForHttp(`http://127.0.0.1:${barePort}/`, 60_000, bare.output);

  const sides = {
    api: () =>
      measureRound(
        `http://127.0.0.1:${apiPort}/v1/generations`,
        { authorization: `Bearer ${API_KEY}` },
        api,
        apiRedis.url,
      ),
    bare: () => measureRound(`http://127.0.0.1:${barePort}/v1/generations`, {}, bare, bareRedis.url),
  };
  // Warm-up: connections, JIT, Redis scripts loaded.
  await sides.bare();
  await sides.api();
  const results = { api: [] as Round[], bare: [] as Round[] };
  for (let i = 0; i < rounds; i += 1) {
    results.bare.push(await sides.bare());
    results.api.push(await sides.api());
  }
  const rates = { api: results.api.map((r) => r.perSecond), bare: results.bare.map((r) => r.perSecond) };
  const apiRate = median(rates.api);
  const bareRate = median(rates.bare);
  const per = (list: Round[], field: 'serverCpu' | 'redisCommands') =>
    list.reduce((sum, r) => sum + r[field], 0) / list.reduce((sum, r) => sum + r.answered, 0);
  const cpuMs = { api: per(results.api, 'serverCpu') * 1000, bare: per(results.bare, 'serverCpu') * 1000 };
  const commands = { api: per(results.api, 'redisCommands'), bare: per(results.bare, 'redisCommands') };
  const value = ratio(apiRate, bareRate);
  await publish({
    benchmark: 'Submit throughput: the API against a bare Fastify endpoint that only calls queue.add',
    command: `node --import tsx bench/submit-throughput.ts --rounds ${rounds} --seconds ${seconds} --clients ${clients} --appendfsync ${values.appendfsync}`,
    parameters: { rounds, seconds_per_round: seconds, clients, appendfsync: values.appendfsync },
    figures: {
      api_submits_per_second: round(apiRate, 1),
      bare_submits_per_second: round(bareRate, 1),
      ratio: value,
      api_rounds: rates.api.map((r) => round(r, 1)).join(' '),
      bare_rounds: rates.bare.map((r) => round(r, 1)).join(' '),
      api_server_cpu_ms_per_submit: round(cpuMs.api, 3),
      bare_server_cpu_ms_per_submit: round(cpuMs.bare, 3),
      api_redis_commands_per_submit: round(commands.api, 2),
      bare_redis_commands_per_submit: round(commands.bare, 2),
    },
    goals: [goal('API / bare submits per second', value, '≥', 0.7)],
    table: markdownTable(
      [
        'server',
        'submits/s (median round)',
        'rounds',
        'server CPU ms per submit',
        'Redis commands per submit',
      ],
      [
        [
          'the API (auth, rate limit, admission script, queue.add)',
          round(apiRate, 1),
          rates.api.map((r) => round(r, 0)).join(', '),
          round(cpuMs.api, 2),
          round(commands.api, 1),
        ],
        [
          'bare Fastify + queue.add',
          round(bareRate, 1),
          rates.bare.map((r) => round(r, 0)).join(', '),
          round(cpuMs.bare, 2),
          round(commands.bare, 1),
        ],
        [
          '**API / bare**',
          `**${value}**`,
          '',
          ratio(cpuMs.api, cpuMs.bare),
          ratio(commands.api, commands.bare),
        ],
      ],
    ),
  });
} finally {
  for (const proc of processes) await proc.stop();
  await s3?.stop();
  for (const server of servers) await server.stop();
  await rm(packDir, { recursive: true, force: true });
}
