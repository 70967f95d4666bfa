/**
 * Starts the application processes — one API, N planner workers, M decoder workers and
 * the evaluator workers that score what succeeded — against a Redis and an object store
 * that already run. Used by `npm start` and by the end-to-end tests, so both exercise
 * the same wiring.
 */
import { fileURLToPath } from 'node:url';
import { freePort } from '../../packages/testing/src/free-port.ts';
import { ManagedProcess } from './managed-process.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface StackOptions {
  redisUrl: string;
  s3: { endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string };
  port: number;
  host?: string;
  devApiKey: string;
  modelPackPath: string;
  planners?: number;
  decoders?: number;
  /** Evaluator workers (scoring, off the request path). Default: 1. */
  evaluators?: number;
  /** Environment added to every process (tests shorten lock and stall timings here). */
  env?: Record<string, string>;
  /** Environment for decoder workers only. */
  decoderEnv?: Record<string, string>;
  onLine?: (name: string, line: string) => void;
  /** A process rejected its configuration (exit 78) after start-up; it is not restarted. */
  onConfigError?: (name: string) => void;
  /**
   * How long the API may take to become ready. Default: a minute, so that `npm start`
   * names an unreachable Redis or S3 soon; tests give it as long as a hang takes to show,
   * since a loaded machine may start processes many times slower.
   */
  readyTimeoutMs?: number;
}

/** A process of the stack exited with EX_CONFIG: its environment is wrong, not its luck. */
export class StackConfigError extends Error {
  constructor(readonly processName: string) {
    super(
      `${processName} rejected its configuration (exit code 78; its message is above); nothing was left running`,
    );
    this.name = 'StackConfigError';
  }
}

export interface RunningStack {
  apiUrl: string;
  api: ManagedProcess;
  planners: ManagedProcess[];
  decoders: ManagedProcess[];
  evaluators: ManagedProcess[];
  /** Starts one more evaluator worker (a stack may start with none). */
  addEvaluator(): Promise<ManagedProcess>;
  /** Each worker's /metrics, in the order of `planners` and `decoders`. */
  metricsUrls: { planners: string[]; decoders: string[] };
  stop(): Promise<void>;
}

function appProcess(
  name: string,
  app: string,
  env: NodeJS.ProcessEnv,
  onLine: StackOptions['onLine'],
  onConfigError: (name: string) => void,
) {
  return new ManagedProcess({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', `apps/${app}/src/${app === 'api' ? 'server' : 'main'}.ts`],
    cwd: REPO_ROOT,
    env,
    onConfigError,
    ...(onLine ? { onLine } : {}),
  });
}

export async function startStack(options: StackOptions): Promise<RunningStack> {
  const host = options.host ?? '127.0.0.1';
  const apiUrl = `http://${host.includes(':') ? `[${host}]` : host}:${options.port}`;
  const common: NodeJS.ProcessEnv = {
    ...process.env,
    REDIS_URL: options.redisUrl,
    S3_ENDPOINT: options.s3.endpoint,
    S3_BUCKET: options.s3.bucket,
    S3_ACCESS_KEY_ID: options.s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: options.s3.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
    MODEL_PACK_PATH: options.modelPackPath,
    PUBLIC_API_URL: apiUrl,
    AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING: 'true',
    ...options.env,
  };
  // During start-up a configuration error fails the start at once instead of waiting
  // out the readiness timeout; afterwards the caller decides.
  let starting = true;
  let rejectStart: (error: Error) => void = () => {};
  const configRejected = new Promise<never>((_, reject) => {
    rejectStart = reject;
  });
  configRejected.catch(() => undefined);
  const onConfigError = (name: string) => {
    if (starting) rejectStart(new StackConfigError(name));
    else options.onConfigError?.(name);
  };
  const api = appProcess(
    'api',
    'api',
    { ...common, PORT: String(options.port), HOST: host, DEV_API_KEY: options.devApiKey },
    options.onLine,
    onConfigError,
  );
  const planners: ManagedProcess[] = [];
  const decoders: ManagedProcess[] = [];
  const metricsUrls = { planners: [] as string[], decoders: [] as string[] };
  const metricsUrl = (port: number) => `http://127.0.0.1:${port}/metrics`;
  for (let i = 0; i < (options.planners ?? 1); i += 1) {
    const port = await freePort();
    const env = { ...common, METRICS_PORT: String(port) };
    planners.push(appProcess(`planner-${i + 1}`, 'planner-worker', env, options.onLine, onConfigError));
    metricsUrls.planners.push(metricsUrl(port));
  }
  for (let i = 0; i < (options.decoders ?? 1); i += 1) {
    const port = await freePort();
    const env = { ...common, ...options.decoderEnv, METRICS_PORT: String(port) };
    decoders.push(appProcess(`decoder-${i + 1}`, 'decoder-worker', env, options.onLine, onConfigError));
    metricsUrls.decoders.push(metricsUrl(port));
  }
  const evaluators: ManagedProcess[] = [];
  const addEvaluator = async () => {
    const env = { ...common, METRICS_PORT: String(await freePort()) };
    const name = `evaluator-${evaluators.length + 1}`;
    const proc = appProcess(name, 'evaluator-worker', env, options.onLine, onConfigError);
    evaluators.push(proc);
    proc.start();
    return proc;
  };
  const all = [api, ...planners, ...decoders];
  for (const proc of all) proc.start();
  for (let i = 0; i < (options.evaluators ?? 1); i += 1) await addEvaluator();

  const stop = async () => {
    await Promise.all([...all, ...evaluators].map((proc) => proc.stop()));
  };
  const gaveUp = new AbortController();
  try {
    await Promise.race([
      waitForReady(`${apiUrl}/readyz`, options.readyTimeoutMs ?? 60_000, gaveUp.signal),
      configRejected,
    ]);
  } catch (error) {
    await stop();
    throw error;
  } finally {
    starting = false;
    gaveUp.abort();
  }
  return { apiUrl, api, planners, decoders, evaluators, addEvaluator, metricsUrls, stop };
}

async function waitForReady(url: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline && !signal.aborted) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`API not ready at ${url} after ${timeoutMs} ms (${last})`);
}
