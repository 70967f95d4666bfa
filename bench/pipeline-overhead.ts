/**
 * What the serving layer costs, with the zero-cost pack (real ONNX graphs that compute
 * almost nothing): the whole system (API, one planner and one decoder process, Redis, an
 * S3 server) against bare BullMQ doing the same two hops with no-op processors (one
 * process per hop, the same queue catalog, job options and worker settings), each on its
 * own redis-server started with the same arguments. Same phases on both sides:
 *
 * 1. warm-up: 100 generations, then each process's RSS;
 * 2. latency: generations at a fixed rate, submit to succeeded (the API: `Prefer: wait`;
 *    bare: QueueEvents of the second hop), p50 and p99;
 * 3. throughput: the rest of `--generations` submitted at once from 16 clients, timed
 *    from the first submit until the last one ends; then each process's RSS again.
 *
 *   node --import tsx bench/pipeline-overhead.ts [--generations 10000] [--rate 10] [--latency-count 150] [--steps 4]
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildPack, zeroCostPack } from '@glm-image/inference/reference-pack';
import { parsePlannerEnv } from '@glm-image/shared/env';
import { GenerationStore } from '@glm-image/shared/generation-store';
import { keyPrefixOf } from '@glm-image/shared/keys';
import { createQueue, decodeJobId, queueSettingsFromEnv } from '@glm-image/shared/queues';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import { freePort } from '@glm-image/testing/free-port';
import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import { QueueEvents } from 'bullmq';
import { sha256Hex } from '../apps/api/src/plugins/auth.ts';
import { startStack } from '../scripts/stack/start-stack.ts';
import { postJson, runAtRate, runConcurrently } from './support/http-client.ts';
import {
  type BenchProcess,
  cpuSeconds,
  rssBytes,
  type S3Process,
  setAppendFsync,
  startNodeProcess,
  startS3Process,
} from './support/processes.ts';
import { goal, markdownTable, publish } from './support/report.ts';
import { median, percentile, ratio, round } from './support/stats.ts';

const { values } = parseArgs({
  options: {
    generations: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '100' },
    rate: { type: 'string', default: '10' },
    'latency-count': { type: 'string', default: '150' },
    steps: { type: 'string', default: '4' },
    clients: { type: 'string', default: '16' },
    /** Diagnostic: jobs per planner process on both sides (the shipped default is 1). */
    'planner-concurrency': { type: 'string', default: '1' },
    /** A diagnostic: run both sides with another AOF fsync policy (production keeps `always`). */
    appendfsync: { type: 'string', default: 'always' },
  },
});
const total = Number(values.generations);
const warmup = Number(values.warmup);
const rate = Number(values.rate);
const latencyCount = Number(values['latency-count']);
const steps = Number(values.steps);
const clients = Number(values.clients);
const backlog = total - warmup - latencyCount;
if (backlog < 1) throw new Error('--generations must exceed --warmup plus --latency-count');

const TENANT = 'bench';
const API_KEY = 'bench-pipeline-key-0123456789abcdef';

/** One system under test, driven the same way on both sides. */
interface Side {
  label: string;
  /** Submits one generation; resolves once it is accepted. */
  submit(): Promise<void>;
  /** Submits one generation; resolves with the milliseconds until it succeeded, and the stage timings it reports. */
  submitAndWait(): Promise<{ ms: number; timings?: Record<string, number> }>;
  /** How many generations have ended so far. */
  ended(): Promise<number>;
  processes(): Array<{ name: string; pid: number | undefined }>;
  stop(): Promise<void>;
}

interface SideResult {
  /** Median of each stage timing the generations reported (the system only). */
  stageMedians: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  perSecond: number;
  rssAfterWarmup: number[];
  rssAfterAll: number[];
  /** CPU ms each process spent per generation during the throughput phase. */
  cpuMsPerGeneration: number[];
  names: string[];
}

async function waitForEnded(side: Side, count: number): Promise<void> {
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    const ended = await side.ended();
    if (ended >= count) return;
    if (Date.now() > deadline) throw new Error(`${side.label}: ${ended} of ${count} generations ended`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function rssOf(side: Side): Promise<number[]> {
  // A moment of quiet, so that what is measured is what stays, not what is in flight.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return Promise.all(side.processes().map((p) => rssBytes(p.pid)));
}

async function measure(side: Side): Promise<SideResult> {
  console.error(`${side.label}: warm-up (${warmup})`);
  await runConcurrently(warmup, clients, () => side.submit());
  await waitForEnded(side, warmup);
  const rssAfterWarmup = await rssOf(side);

  console.error(`${side.label}: latency (${latencyCount} at ${rate}/s)`);
  const latencies: number[] = [];
  const stages: Record<string, number[]> = {};
  await runAtRate(latencyCount, rate, async () => {
    const { ms, timings } = await side.submitAndWait();
    latencies.push(ms);
    for (const [stage, value] of Object.entries(timings ?? {})) {
      stages[stage] = [...(stages[stage] ?? []), value];
    }
  });

  console.error(`${side.label}: throughput (${backlog})`);
  const cpuBefore = await Promise.all(side.processes().map((p) => cpuSeconds(p.pid)));
  const started = performance.now();
  await runConcurrently(backlog, clients, () => side.submit());
  await waitForEnded(side, total);
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = await Promise.all(side.processes().map((p) => cpuSeconds(p.pid)));
  return {
    stageMedians: Object.fromEntries(Object.entries(stages).map(([stage, v]) => [stage, median(v)])),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    perSecond: backlog / seconds,
    rssAfterWarmup,
    rssAfterAll: await rssOf(side),
    cpuMsPerGeneration: cpuAfter.map((after, i) => ((after - (cpuBefore[i] as number)) * 1000) / backlog),
    names: side.processes().map((p) => p.name),
  };
}

/** Bare BullMQ: add to `plan`; a no-op worker adds to `decode`; a no-op worker ends it. */
async function startBare(redisServer: RedisServerHandle): Promise<Side> {
  const env = {
    REDIS_URL: redisServer.url,
    LOG_LEVEL: 'warn',
    METRICS_PORT: String(await freePort()),
    PLANNER_CONCURRENCY: values['planner-concurrency']!,
  };
  // The catalog's defaults, as the application's workers read them.
  const settings = queueSettingsFromEnv(parsePlannerEnv(env));
  const workers: BenchProcess[] = [
    startNodeProcess('bare plan worker', 'bench/support/bare-hop-worker.ts', { ...env, QUEUE: 'plan' }),
    startNodeProcess('bare decode worker', 'bench/support/bare-hop-worker.ts', { ...env, QUEUE: 'decode' }),
  ];
  const redis = createRedis(redisServer.url);
  const planQueue = createQueue<{ generationId: string }>('plan', redis, settings);
  const eventsConnection = createRedis(redisServer.url, { forWorker: true });
  const events = new QueueEvents(settings.names.decode, {
    connection: eventsConnection,
    prefix: settings.prefix,
  });
  await events.waitUntilReady();
  let ended = 0;
  const waiters = new Map<string, () => void>();
  events.on('completed', ({ jobId }) => {
    ended += 1;
    waiters.get(jobId)?.();
    waiters.delete(jobId);
  });
  const add = async (id: string) => {
    await planQueue.add('plan', { generationId: id }, { jobId: id });
  };
  return {
    label: 'bare BullMQ, two no-op hops',
    submit: () => add(`gen_${randomUUID()}`),
    submitAndWait: async () => {
      const id = `gen_${randomUUID()}`;
      const started = performance.now();
      const done = new Promise<void>((resolve) => waiters.set(decodeJobId(id), resolve));
      await add(id);
      await done;
      return { ms: performance.now() - started };
    },
    ended: async () => ended,
    processes: () => workers.map((w) => ({ name: w.name, pid: w.pid })),
    stop: async () => {
      await events.close();
      await planQueue.close();
      await closeRedis(eventsConnection);
      await closeRedis(redis);
      for (const worker of workers) await worker.stop();
    },
  };
}

/** The system: API, one planner, one decoder, on the zero-cost pack. */
async function startSystem(redisServer: RedisServerHandle, s3: S3Process, packDir: string): Promise<Side> {
  const logs: string[] = [];
  const stack = await startStack({
    redisUrl: redisServer.url,
    s3,
    port: await freePort(),
    devApiKey: 'bench-unused-dev-key-0123456789',
    modelPackPath: packDir,
    env: {
      LOG_LEVEL: 'warn',
      PLANNER_CONCURRENCY: values['planner-concurrency']!,
      API_KEYS: JSON.stringify([
        { sha256: sha256Hex(API_KEY), tenant: TENANT, rate_per_minute: 1e9, max_in_flight: 1e9 },
      ]),
    },
    onLine: (name, line) => {
      logs.push(`${name}: ${line}`);
      if (logs.length > 200) logs.shift();
    },
  });
  const redis = createRedis(redisServer.url);
  const store = new GenerationStore(redis, { keyPrefix: keyPrefixOf('{glm}') });
  const url = `${stack.apiUrl}/v1/generations`;
  const body = { prompt: 'a red circle on a blue background', width: 64, height: 64, steps };
  const authorization = `Bearer ${API_KEY}`;
  let submitted = 0;
  const post = async (headers: Record<string, string>) => {
    submitted += 1;
    const answer = await postJson(url, body, { authorization, ...headers });
    if (answer.status !== 202 && answer.status !== 200) {
      throw new Error(`submit answered ${answer.status}: ${answer.body}\n${logs.slice(-20).join('\n')}`);
    }
    return answer;
  };
  return {
    label: 'the system (API, planner, decoder; zero-cost pack)',
    submit: async () => {
      await post({});
    },
    submitAndWait: async () => {
      const started = performance.now();
      const answer = await post({ prefer: 'wait=60' });
      const ms = performance.now() - started;
      const { status, timings } = JSON.parse(answer.body) as {
        status: string;
        timings: Record<string, number>;
      };
      if (status !== 'succeeded') throw new Error(`a generation ended ${status}: ${answer.body}`);
      return { ms, timings };
    },
    ended: async () => submitted - (await store.unfinishedCount(TENANT)),
    processes: () => [
      { name: 'api', pid: stack.api.pid },
      { name: 'planner', pid: stack.planners[0]?.pid },
      { name: 'decoder', pid: stack.decoders[0]?.pid },
      { name: 's3 server', pid: s3.pid },
    ],
    stop: async () => {
      await closeRedis(redis);
      await stack.stop();
    },
  };
}

const packDir = await mkdtemp(join(tmpdir(), 'glm-bench-zero-cost-'));
const servers: RedisServerHandle[] = [];
let s3: S3Process | undefined;
try {
  await buildPack(packDir, zeroCostPack());
  const bareRedis = await startRedisServer();
  servers.push(bareRedis);
  await setAppendFsync(bareRedis.url, values.appendfsync!);
  const bareSide = await startBare(bareRedis);
  const bare = await measure(bareSide).finally(() => bareSide.stop());

  const systemRedis = await startRedisServer();
  servers.push(systemRedis);
  await setAppendFsync(systemRedis.url, values.appendfsync!);
  s3 = await startS3Process();
  const systemSide = await startSystem(systemRedis, s3, packDir);
  const system = await measure(systemSide).finally(() => systemSide.stop());

  const mb = (bytes: number) => round(bytes / 2 ** 20, 1);
  const growth = (result: SideResult) =>
    result.rssAfterAll.map((after, i) => after / (result.rssAfterWarmup[i] ?? 1));
  const processRows = (result: SideResult) =>
    result.names.map((name, i) => [
      name,
      mb(result.rssAfterWarmup[i] as number),
      mb(result.rssAfterAll[i] as number),
      round(growth(result)[i] as number, 3),
      round(result.cpuMsPerGeneration[i] as number, 2),
    ]);
  const cpuTotal = (result: SideResult) => result.cpuMsPerGeneration.reduce((sum, ms) => sum + ms, 0);
  const rssRows = [
    ...processRows(system),
    ['**the system, all processes**', '', '', '', `**${round(cpuTotal(system), 2)}**`],
    ...processRows(bare),
    ['**bare, all processes**', '', '', '', `**${round(cpuTotal(bare), 2)}**`],
  ];
  const overheadP50 = system.p50Ms - bare.p50Ms;
  const throughputRatio = ratio(system.perSecond, bare.perSecond);
  // The S3 server stands in for a managed object store: its memory is not ours to judge.
  const worstGrowth = Math.max(...growth(system).filter((_, i) => system.names[i] !== 's3 server'));
  const noise = Math.max(...growth(bare));
  await publish({
    benchmark: 'Pipeline overhead: the system on the zero-cost pack against bare BullMQ',
    command: `node --import tsx bench/pipeline-overhead.ts --generations ${total} --rate ${rate} --latency-count ${latencyCount} --steps ${steps} --appendfsync ${values.appendfsync} --planner-concurrency ${values['planner-concurrency']}`,
    parameters: {
      generations: total,
      warmup,
      rate_per_second: rate,
      latency_count: latencyCount,
      steps,
      size: '64x64',
      clients,
    },
    figures: {
      system_p50_ms: round(system.p50Ms, 2),
      system_p99_ms: round(system.p99Ms, 2),
      bare_p50_ms: round(bare.p50Ms, 2),
      bare_p99_ms: round(bare.p99Ms, 2),
      overhead_p50_ms: round(overheadP50, 2),
      overhead_p99_ms: round(system.p99Ms - bare.p99Ms, 2),
      p50_ratio: ratio(system.p50Ms, bare.p50Ms),
      p99_ratio: ratio(system.p99Ms, bare.p99Ms),
      system_generations_per_second: round(system.perSecond, 1),
      bare_generations_per_second: round(bare.perSecond, 1),
      throughput_ratio: throughputRatio,
      rss_growth_worst_system_process: round(worstGrowth, 3),
      rss_growth_worst_bare_process: round(noise, 3),
      system_cpu_ms_per_generation: round(cpuTotal(system), 2),
      bare_cpu_ms_per_generation: round(cpuTotal(bare), 2),
    },
    goals: [
      goal('overhead p50 (system p50 - bare p50)', round(overheadP50, 2), '≤', 10, ' ms'),
      goal('throughput / bare', throughputRatio, '≥', 0.25),
    ],
    table: [
      markdownTable(
        ['', 'p50 ms', 'p99 ms', `generations/s (${backlog} at once)`],
        [
          [
            'the system, zero-cost pack',
            round(system.p50Ms, 1),
            round(system.p99Ms, 1),
            round(system.perSecond, 1),
          ],
          [
            'bare BullMQ, two no-op hops',
            round(bare.p50Ms, 1),
            round(bare.p99Ms, 1),
            round(bare.perSecond, 1),
          ],
          [
            '**system / bare**',
            `**${ratio(system.p50Ms, bare.p50Ms)}**`,
            `**${ratio(system.p99Ms, bare.p99Ms)}**`,
            `**${throughputRatio}**`,
          ],
        ],
      ),
      '',
      markdownTable(
        ['process', `RSS MB after ${warmup}`, `RSS MB after ${total}`, 'ratio', 'CPU ms per generation'],
        rssRows,
      ),
    ].join('\n'),
    notes: [
      `median stage timings of the system (ms): ${Object.entries(system.stageMedians)
        .map(([stage, ms]) => `${stage} ${round(ms, 1)}`)
        .join(', ')}`,
      `latency at ${rate}/s, ${latencyCount} generations per side; overhead p50 = ${round(overheadP50, 1)} ms over bare`,
      `RSS: the worst system process grew ${round(worstGrowth, 3)}x, the worst bare process ${round(noise, 3)}x`,
    ],
  });
} finally {
  await s3?.stop();
  for (const server of servers) await server.stop();
  await rm(packDir, { recursive: true, force: true });
}
