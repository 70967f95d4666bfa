/**
 * SSE watchers against Redis connections. One API process (this one) with its own
 * redis-server and S3 server and no workers serves 2,000 concurrent SSE clients (a child
 * process, sse-watchers/clients.ts) of 20 running generations. A writer process
 * (sse-watchers/writer.ts) writes each generation's progress through the store the way a
 * worker does, a progress event every 500 ms per generation (workers write at most one
 * per 250 ms), each stamped with the time it was written, then ends the generations.
 *
 * Measured: the Redis connections opened (the redis-server's total_connections_received;
 * once the writer is connected only the API opens any) while the clients connect and
 * while the events flow, the most open at once, and how long a progress event takes from
 * its write to a client (p50, p99), over the events delivered: a client sent a progress
 * event gets the next one no sooner than 250 ms later, and a run that arrives meanwhile
 * collapses to its latest, so a server that falls behind delivers fewer.
 *
 * Two runs side by side, the same clients and events: the API's event hub (one
 * subscription per process) and the baseline, the previous way kept in
 * sse-watchers/baseline-server.ts (a blocking XREAD per waiting stream on a pooled
 * connection of its own). The event hub runs first, so the baseline's closed connections
 * cannot weigh on it. Prints JSON and a markdown table; asserts nothing. BENCH_JSON_OUT
 * names a file to write the JSON to as well.
 *
 *   node --import tsx bench/sse-watchers.ts [--watchers 2000] [--generations 20] [--seconds 15] [--progress-ms 500]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { REFERENCE_MANIFEST } from '@glm-image/inference/reference-pack';
import { closeRedis, createRedis, type RedisClient } from '@glm-image/shared/redis';
import { queuedRecord } from '@glm-image/testing/records';
import { startRedisServer } from '@glm-image/testing/redis-server';
import { startS3Server } from '@glm-image/testing/s3-server';
import { buildApp } from '../apps/api/src/app.ts';
import { parseApiEnv } from '../apps/api/src/env.ts';
import { sha256Hex } from '../apps/api/src/plugins/auth.ts';
import { startBaselineServer } from './sse-watchers/baseline-server.ts';
import type { ClientsReport, FromClients, ToClients } from './sse-watchers/clients.ts';
import type { FromWriter, ToWriter } from './sse-watchers/writer.ts';

const { values } = parseArgs({
  options: {
    watchers: { type: 'string', default: '2000' },
    generations: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '15' },
    'progress-ms': { type: 'string', default: '500' },
  },
});
const watchers = Number(values.watchers);
const generations = Number(values.generations);
const progressMs = Number(values['progress-ms']);
/** Progress events written per generation. */
const stepsEach = Math.max(1, Math.round((Number(values.seconds) * 1000) / progressMs));
const perGeneration = Math.ceil(watchers / generations);
const KEY = 'bench-key-watchers-0123456789';
const now = () => performance.timeOrigin + performance.now();

/** The soft limit on open files, from /proc (Node cannot raise it; the shell's `ulimit -n` can). */
function openFilesLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}
// This process holds a socket per client and, in the baseline, a Redis connection per
// waiting stream; the clients' process holds its own.
const needed = 2 * watchers + 512;
if (openFilesLimit() < needed) {
  console.error(
    `needs ${needed} open files, the limit is ${openFilesLimit()}: raise it (ulimit -n) or pass fewer --watchers`,
  );
  process.exit(1);
}

const redisServer = await startRedisServer();
const s3 = await startS3Server();
const packDir = await mkdtemp(join(tmpdir(), 'bench-watchers-pack-'));
await writeFile(join(packDir, 'model.json'), JSON.stringify(REFERENCE_MANIFEST));
const app = await buildApp({
  env: parseApiEnv({
    REDIS_URL: redisServer.url,
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: s3.bucket,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    MODEL_PACK_PATH: packDir,
    LOG_LEVEL: 'silent',
    WEBHOOK_DELIVERY_ENABLED: 'false',
    API_KEYS: JSON.stringify([
      { sha256: sha256Hex(KEY), tenant: 'bench', rate_per_minute: 1_000_000, max_in_flight: 1_000_000 },
    ]),
  }),
});
const apiUrl = await app.listen({ host: '127.0.0.1', port: 0 });
const baseline = await startBaselineServer({ redis: app.redis, store: app.store, presenter: app.presenter });
/** Reads the server's counters; opened before any run, so it is never counted in one. */
const probe: RedisClient = createRedis(redisServer.url);

async function serverCounters(): Promise<{ accepted: number; open: number }> {
  const info = await probe.info();
  const read = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1]);
  return { accepted: read('total_connections_received'), open: read('connected_clients') };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** A child process of this benchmark, and its messages as promises. */
function startChild<Message extends { type: string }>(
  script: string,
  args: string[] = [],
): { child: ChildProcess; next(type: Message['type'], timeoutMs: number): Promise<Message> } {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), args, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const inbox: Message[] = [];
  let wake: (() => void) | null = null;
  child.on('message', (message: Message) => {
    inbox.push(message);
    wake?.();
  });
  return {
    child,
    async next(type, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const index = inbox.findIndex((message) => message.type === type);
        if (index >= 0) return inbox.splice(index, 1)[0]!;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no '${type}' from ${script} within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.min(left, 1000));
        });
      }
    },
  };
}

interface RunResult {
  clients: number;
  connections_opened_while_connecting: number;
  connections_opened_during_events: number;
  connections_opened_per_second: number;
  most_connections_open: number;
  event_seconds: number;
  /** How far behind its schedule the writer fell at worst: the load the run could not take. */
  writer_worst_lag_ms: number;
  /** Progress events clients received, and at most what they could (runs of them collapse). */
  progress_delivered: number;
  progress_written_for_clients: number;
  streams_failed: number;
  complete: boolean;
  latency_ms_p50: number;
  latency_ms_p99: number;
}

async function run(streamUrl: (id: string) => string, authorization?: string): Promise<RunResult> {
  const ids: string[] = [];
  for (let g = 0; g < generations; g++) {
    const record = queuedRecord({ tenant: 'bench' });
    await app.store.create(record);
    await app.store.transition(record.id, 'planning');
    ids.push(record.id);
  }
  const urls = ids
    .flatMap((id) => Array.from({ length: perGeneration }, () => streamUrl(id)))
    .slice(0, watchers);
  let mostOpen = 0;
  const sampler = setInterval(() => {
    serverCounters().then(
      ({ open }) => {
        mostOpen = Math.max(mostOpen, open);
      },
      () => undefined,
    );
  }, 250);
  const clients = startChild<FromClients>('./sse-watchers/clients.ts');
  const writer = startChild<FromWriter>('./sse-watchers/writer.ts', [redisServer.url]);
  try {
    await writer.next('connected', 60_000);
    const start = await serverCounters();
    clients.child.send({
      type: 'open',
      urls,
      ...(authorization ? { authorization } : {}),
    } satisfies ToClients);
    await clients.next('ready', 300_000);
    const connected = await serverCounters();
    const began = now();

    writer.child.send({ type: 'write', ids, steps: stepsEach, progressMs } satisfies ToWriter);
    const { worstLagMs } = (await writer.next('written', 600_000)) as Extract<
      FromWriter,
      { type: 'written' }
    >;
    let report: ClientsReport;
    try {
      report = (await clients.next('done', 120_000)) as ClientsReport;
    } catch {
      clients.child.send({ type: 'report' } satisfies ToClients);
      report = (await clients.next('done', 30_000)) as ClientsReport;
    }
    const ended = await serverCounters();
    const seconds = (now() - began) / 1000;
    const latencies = report.latenciesMs.sort((a, b) => a - b);
    return {
      clients: urls.length,
      connections_opened_while_connecting: connected.accepted - start.accepted,
      connections_opened_during_events: ended.accepted - connected.accepted,
      connections_opened_per_second: Number(((ended.accepted - connected.accepted) / seconds).toFixed(1)),
      most_connections_open: Math.max(mostOpen, start.open, connected.open, ended.open),
      event_seconds: Number(seconds.toFixed(1)),
      writer_worst_lag_ms: worstLagMs,
      progress_delivered: latencies.length,
      progress_written_for_clients: urls.length * stepsEach,
      streams_failed: report.failed,
      complete: report.complete,
      latency_ms_p50: Number(percentile(latencies, 0.5).toFixed(2)),
      latency_ms_p99: Number(percentile(latencies, 0.99).toFixed(2)),
    };
  } finally {
    clearInterval(sampler);
    clients.child.kill();
    writer.child.kill();
  }
}

const ratio = (baselineValue: number, hubValue: number) =>
  hubValue === 0 ? null : Number((baselineValue / hubValue).toFixed(2));

try {
  const hub = await run((id) => `${apiUrl}/v1/generations/${id}/events`, `Bearer ${KEY}`);
  const old = await run((id) => `${baseline.url}/events/${id}`);
  const result = {
    benchmark: 'SSE watchers: Redis connections and delivery latency',
    watchers,
    generations,
    progress_events_per_generation: stepsEach,
    progress_ms: progressMs,
    event_hub: hub,
    baseline: { ...old, streams_failed_server_side: baseline.failedStreams },
    ratios_baseline_to_hub: {
      connections_opened_during_events: ratio(
        old.connections_opened_during_events,
        hub.connections_opened_during_events,
      ),
      most_connections_open: ratio(old.most_connections_open, hub.most_connections_open),
      latency_ms_p50: ratio(old.latency_ms_p50, hub.latency_ms_p50),
      latency_ms_p99: ratio(old.latency_ms_p99, hub.latency_ms_p99),
    },
  };
  console.log(JSON.stringify(result));
  // Where a runner of every benchmark collects the results.
  const { BENCH_JSON_OUT: jsonOut } = process.env;
  if (jsonOut) await writeFile(jsonOut, `${JSON.stringify(result, null, 2)}\n`);
  const times = (value: number | null) => (value === null ? 'n/a (hub: 0)' : `${value}x`);
  const row = (label: string, a: string | number, b: string | number, r = '') =>
    `| ${label} | ${a} | ${b} | ${r} |`;
  console.log(
    [
      `${watchers} SSE clients of ${generations} running generations, each generation writing a progress event every ${progressMs} ms (${stepsEach} each):`,
      '',
      '| | event hub (one subscription) | baseline (blocking read per stream) | baseline / hub |',
      '| --- | --- | --- | --- |',
      row(
        'Redis connections opened while the clients connected',
        hub.connections_opened_while_connecting,
        old.connections_opened_while_connecting,
      ),
      row(
        'Redis connections opened while events flowed',
        hub.connections_opened_during_events,
        old.connections_opened_during_events,
        times(result.ratios_baseline_to_hub.connections_opened_during_events),
      ),
      row('… per second', hub.connections_opened_per_second, old.connections_opened_per_second),
      row('seconds the events took to write', hub.event_seconds, old.event_seconds),
      row(
        'most Redis connections open at once (whole server)',
        hub.most_connections_open,
        old.most_connections_open,
        times(result.ratios_baseline_to_hub.most_connections_open),
      ),
      row(
        'progress events delivered / written (runs collapse)',
        `${hub.progress_delivered} / ${hub.progress_written_for_clients}`,
        `${old.progress_delivered} / ${old.progress_written_for_clients}`,
      ),
      row('streams that failed', hub.streams_failed, old.streams_failed),
      row(
        'delivery latency p50 (ms)',
        hub.latency_ms_p50,
        old.latency_ms_p50,
        times(result.ratios_baseline_to_hub.latency_ms_p50),
      ),
      row(
        'delivery latency p99 (ms)',
        hub.latency_ms_p99,
        old.latency_ms_p99,
        times(result.ratios_baseline_to_hub.latency_ms_p99),
      ),
    ].join('\n'),
  );
} finally {
  await closeRedis(probe);
  await baseline.close();
  await app.close();
  await s3.stop();
  await redisServer.stop();
  await rm(packDir, { recursive: true, force: true });
}
