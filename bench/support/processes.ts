/**
 * The processes a benchmark runs: application workers, baseline workers and an S3
 * server, each its own Node process (as deployed), with their memory readable from /proc.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import { freePort } from '@glm-image/testing/free-port';
import { ManagedProcess } from '../../scripts/stack/managed-process.ts';
import { REPO_ROOT } from '../../scripts/stack/start-stack.ts';

export { REPO_ROOT };

export interface BenchProcess {
  readonly name: string;
  readonly pid: number | undefined;
  /** The last lines it printed, for an error message. */
  output(): string;
  stop(): Promise<void>;
}

/** Runs `script` (a path from the repository root) under `node --import tsx`; it is not restarted. */
export function startNodeProcess(
  name: string,
  script: string,
  env: Record<string, string>,
  args: string[] = [],
): BenchProcess {
  const lines: string[] = [];
  const proc = new ManagedProcess({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', script, ...args],
    cwd: REPO_ROOT,
    env: { ...process.env, AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING: 'true', ...env },
    restart: false,
    onLine: (_name, line) => {
      lines.push(line);
      if (lines.length > 200) lines.shift();
    },
  });
  proc.start();
  return {
    name,
    get pid() {
      return proc.pid;
    },
    output: () => lines.join('\n'),
    stop: async () => {
      await proc.stop();
    },
  };
}

/** Resident set size of a process, in bytes (Linux /proc). */
export async function rssBytes(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN;
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : Number.NaN;
}

/** Resolves once `url` answers HTTP at all; throws after `timeoutMs`, with `describe()` in the message. */
export async function waitForHttp(url: string, timeoutMs = 60_000, describe = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fetch(url);
      return;
    } catch {
      if (Date.now() > deadline)
        throw new Error(`${url} did not answer within ${timeoutMs} ms\n${describe()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** The value of an unlabelled (or first-listed) Prometheus sample `name` at `metricsUrl`. */
export async function scrapeMetric(metricsUrl: string, name: string): Promise<number> {
  const body = await (await fetch(metricsUrl)).text();
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(body);
  return match ? Number(match[1]) : 0;
}

export interface S3Process {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/** An S3-protocol server (s3rver) in a process of its own, so that it does not share the benchmark's event loop. */
export async function startS3Process(): Promise<S3Process> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'glm-bench-s3-'));
  const bucket = 'generations';
  const proc = startNodeProcess('s3', 'scripts/stack/s3-server.ts', {}, [
    '--port',
    String(port),
    '--dir',
    dir,
    '--bucket',
    bucket,
  ]);
  const endpoint = `http://127.0.0.1:${port}`;
  await waitForHttp(endpoint, 30_000, proc.output);
  return {
    endpoint,
    bucket,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    pid: proc.pid,
    stop: async () => {
      await proc.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The variables a worker process reads to reach this benchmark's Redis and S3 and load `packDir`. */
export async function workerEnv(
  redisUrl: string,
  s3: S3Process,
  packDir: string,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  return {
    REDIS_URL: redisUrl,
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: s3.bucket,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
    MODEL_PACK_PATH: packDir,
    METRICS_PORT: String(await freePort()),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** CPU time (user + system) a process has used so far, in seconds (Linux /proc; clock ticks of 1/100 s). */
export async function cpuSeconds(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at state, field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Sets the AOF fsync policy of a running redis-server. Benchmarks keep `always` (what
 * production runs); `everysec` shows how much of a figure is waiting for the disk.
 */
export async function setAppendFsync(redisUrl: string, policy: string): Promise<void> {
  const redis = createRedis(redisUrl);
  try {
    await redis.config('SET', 'appendfsync', policy);
  } finally {
    await closeRedis(redis);
  }
}
