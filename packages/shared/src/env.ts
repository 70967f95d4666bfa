/**
 * Process configuration. Each process parses its environment once at start-up (the
 * workers with parsePlannerEnv / parseDecoderEnv / parseEvaluatorEnv below, the API with its own schema built
 * from the same parts); a bad environment throws a single ConfigError that lists every
 * bad variable, so an operator fixes them in one pass instead of one restart per typo.
 * Parsed values keep the variable names.
 */
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { DEFAULT_RETENTION_SECONDS } from './generation.ts';
import { DEFAULT_QUEUE_PREFIX } from './keys.ts';
import { parseRedisUrl } from './redis-url.ts';

export const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
export const port = int(1, 65535);
export const durationMs = int(0);
export const positiveInt = int(1);

/**
 * The planner's batch limit when PLANNER_MAX_BATCH is unset: on the benchmark, batch 8
 * gives most of batch 16's throughput at about half its latency (BENCHMARKS.md).
 */
export const DEFAULT_PLANNER_MAX_BATCH = 8;

/**
 * Five minutes: long enough for an object store's restart or failover, short enough
 * that a client learns of a longer outage while it still waits.
 */
export const DEFAULT_STORAGE_UNAVAILABLE_AFTER_MS = 300_000;

const redisUrl = z.string().superRefine((value, ctx) => {
  try {
    parseRedisUrl(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});
export const httpUrl = z.string().refine((value) => /^https?:\/\/.+/.test(value) && URL.canParse(value), {
  message: 'must be an http(s) URL',
});
/** A BullMQ prefix must carry a Redis Cluster hash tag so every key of every queue shares one slot. */
const hashTaggedPrefix = z.string().refine((value) => /\{[^{}]+\}/.test(value), {
  message: 'must contain a Redis Cluster hash tag, e.g. {glm}',
});
const queueName = z.string().regex(/^[A-Za-z0-9_-]+$/, 'may contain only letters, digits, "_" and "-"');
export const commaList = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0),
);
export const jsonText = <T extends z.ZodType>(schema: T) =>
  z.string().transform((text, ctx): z.infer<T> => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be valid JSON' });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const where = issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
        ctx.addIssue({ code: 'custom', message: `${issue.message}${where}` });
      }
      return z.NEVER;
    }
    return parsed.data;
  });

/** What every process reads. */
export const commonShape = {
  REDIS_URL: redisUrl.default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: hashTaggedPrefix.default(DEFAULT_QUEUE_PREFIX),
  PLAN_QUEUE: queueName.default('plan'),
  DECODE_QUEUE: queueName.default('decode'),
  WEBHOOK_QUEUE: queueName.default('webhook'),
  EVALUATE_QUEUE: queueName.default('evaluate'),
  S3_ENDPOINT: httpUrl.optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_BUCKET: z.string().min(3).max(63).default('generations'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: z.stringbool().default(true),
  S3_PUBLIC_BASE_URL: httpUrl.optional(),
  RETENTION_SECONDS: positiveInt.default(DEFAULT_RETENTION_SECONDS),
  JOB_ATTEMPTS: int(1, 100).default(3),
  JOB_BACKOFF_MS: durationMs.default(1000),
  SHUTDOWN_GRACE_MS: durationMs.default(30_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl.optional(),
};

/** What every worker reads: its models, locks and health port. */
export const workerShape = {
  MODEL_PACK_PATH: z.string().min(1).default('model-packs/reference'),
  EXECUTION_PROVIDER: z.enum(['cpu', 'cuda']).default('cpu'),
  INTRA_OP_THREADS: int(1, 1024).optional(),
  INTER_OP_THREADS: int(1, 1024).optional(),
  CUDA_DEVICE_ID: int(0, 64).default(0),
  /**
   * Job locks. Inference runs off the event loop, so a live worker renews its locks on
   * time even while its model is busy, and a lock can be short: a killed worker's jobs go
   * back to the queue at the first stalled check after their lock runs out, about
   * LOCK_DURATION_MS + STALLED_INTERVAL_MS (7.5 s by default) after the kill. Locks are
   * renewed every LOCK_RENEW_MS, by default a quarter of LOCK_DURATION_MS (1.5 s): a
   * renewal may come late three times in a row before the lock is lost.
   */
  LOCK_DURATION_MS: positiveInt.default(6000),
  LOCK_RENEW_MS: positiveInt.optional(),
  STALLED_INTERVAL_MS: positiveInt.default(1500),
  HOST: z.string().min(1).default('127.0.0.1'),
};

/**
 * Variables that were replaced, and their successors. Each is refused with its
 * successor's name, so that a deployment still setting one learns so at start instead
 * of silently losing the setting; the deploy tests refuse them in manifests.
 */
const RETIRED_VARIABLES = { PLANNER_CONCURRENCY: 'PLANNER_MAX_BATCH' } as const;
const retired = (variable: keyof typeof RETIRED_VARIABLES) =>
  z.undefined({ error: `was replaced by ${RETIRED_VARIABLES[variable]}` });

export const commonEnvSchema = z.object(commonShape);
export const plannerEnvSchema = z.object({
  ...commonShape,
  ...workerShape,
  /**
   * Plan jobs one planner process holds and decodes together in one batch (continuous
   * batching: a finished plan's row goes to the next job at once). Chosen from
   * bench/planner-batching.ts; see BENCHMARKS.md.
   */
  PLANNER_MAX_BATCH: int(1, 256).default(DEFAULT_PLANNER_MAX_BATCH),
  METRICS_PORT: port.default(9464),
  PLANNER_CONCURRENCY: retired('PLANNER_CONCURRENCY'),
});
export const decoderEnvSchema = z.object({
  ...commonShape,
  ...workerShape,
  // Two: one job encodes and uploads while the next one's renders wait in the model thread.
  DECODER_CONCURRENCY: int(1, 256).default(2),
  /**
   * How long a decode job keeps its rendered images and waits for an unreachable object
   * store before the generation fails as `storage_unavailable`. Counted from the first
   * upload the store did not take; rendering is never repeated within it.
   */
  STORAGE_UNAVAILABLE_AFTER_MS: positiveInt.default(DEFAULT_STORAGE_UNAVAILABLE_AFTER_MS),
  METRICS_PORT: port.default(9465),
});
export const evaluatorEnvSchema = z.object({
  ...commonShape,
  ...workerShape,
  EVALUATOR_CONCURRENCY: int(1, 256).default(1),
  METRICS_PORT: port.default(9466),
});

export type CommonEnv = z.infer<typeof commonEnvSchema>;
export type PlannerEnv = z.infer<typeof plannerEnvSchema>;
export type DecoderEnv = z.infer<typeof decoderEnvSchema>;
export type EvaluatorEnv = z.infer<typeof evaluatorEnvSchema>;
export type WorkerEnv = PlannerEnv | DecoderEnv | EvaluatorEnv;

/** The variables each process reads: deploy manifests are checked against these lists. */
const readVariables = (schema: z.ZodObject) =>
  Object.keys(schema.shape).filter((v) => !(v in RETIRED_VARIABLES));
export const PLANNER_ENV_VARS: readonly string[] = readVariables(plannerEnvSchema);
export const DECODER_ENV_VARS: readonly string[] = readVariables(decoderEnvSchema);
export const EVALUATOR_ENV_VARS: readonly string[] = readVariables(evaluatorEnvSchema);

export type EnvProblem = { variable: string; message: string };
export type RawEnv = Record<string, string | undefined>;
type Problem = EnvProblem;

/** Checks that span several variables; each runs only when its variables parsed. */
function crossFieldProblems(env: Partial<CommonEnv>): Problem[] {
  const problems: Problem[] = [];
  const hasKeyId = env.S3_ACCESS_KEY_ID !== undefined;
  const hasSecret = env.S3_SECRET_ACCESS_KEY !== undefined;
  if (hasKeyId !== hasSecret) {
    problems.push({
      variable: hasKeyId ? 'S3_SECRET_ACCESS_KEY' : 'S3_ACCESS_KEY_ID',
      message: 'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together',
    });
  }
  const queues = [env.PLAN_QUEUE, env.DECODE_QUEUE, env.WEBHOOK_QUEUE];
  if (queues.every((name) => name !== undefined) && new Set(queues).size !== queues.length) {
    problems.push({
      variable: 'PLAN_QUEUE/DECODE_QUEUE/WEBHOOK_QUEUE',
      message: `queue names must differ (got ${queues.join(', ')})`,
    });
  }
  if (env.EVALUATE_QUEUE !== undefined && queues.includes(env.EVALUATE_QUEUE)) {
    problems.push({
      variable: 'EVALUATE_QUEUE',
      message: `must differ from the other queue names (got ${env.EVALUATE_QUEUE})`,
    });
  }
  return problems;
}

/**
 * Parses every variable of a schema on its own, so that all problems are reported
 * together, then runs the cross-field checks (the common ones and the process's own,
 * `checks`) on what parsed. Empty strings count as unset: orchestrators often render an
 * absent optional value as "".
 */
export function parseEnvSchema<S extends z.ZodObject>(
  schema: S,
  env: RawEnv,
  checks: (values: Partial<z.infer<S>>) => Problem[] = () => [],
): z.infer<S> {
  const problems: Problem[] = [];
  const values: Record<string, unknown> = {};
  for (const [variable, fieldSchema] of Object.entries(schema.shape)) {
    const raw = env[variable];
    const result = (fieldSchema as z.ZodType).safeParse(raw === '' ? undefined : raw);
    if (result.success) {
      if (result.data !== undefined) values[variable] = result.data;
    } else {
      const message = result.error.issues.map((issue) => issue.message).join('; ');
      problems.push({ variable, message: raw === undefined ? `is required (${message})` : message });
    }
  }
  problems.push(...crossFieldProblems(values), ...checks(values as Partial<z.infer<S>>));
  if (problems.length > 0) throw new ConfigError(problems);
  return values as z.infer<S>;
}

export function parseCommonEnv(env: RawEnv = process.env): CommonEnv {
  return parseEnvSchema(commonEnvSchema, env);
}
export function parsePlannerEnv(env: RawEnv = process.env): PlannerEnv {
  return parseEnvSchema(plannerEnvSchema, env, lockProblems);
}
export function parseDecoderEnv(env: RawEnv = process.env): DecoderEnv {
  return parseEnvSchema(decoderEnvSchema, env, lockProblems);
}
export function parseEvaluatorEnv(env: RawEnv = process.env): EvaluatorEnv {
  return parseEnvSchema(evaluatorEnvSchema, env, lockProblems);
}

/** A lock renewed no sooner than it runs out is lost by every worker that holds it. */
function lockProblems(env: Partial<z.infer<z.ZodObject<typeof workerShape>>>): Problem[] {
  const { LOCK_RENEW_MS: renew, LOCK_DURATION_MS: duration } = env;
  if (renew === undefined || duration === undefined || renew < duration) return [];
  return [
    {
      variable: 'LOCK_RENEW_MS',
      message: `must be less than LOCK_DURATION_MS (got ${renew} and ${duration})`,
    },
  ];
}

/**
 * The exit status of a process stopped by its configuration (sysexits' EX_CONFIG).
 * Supervisors treat it as final: starting the process again cannot fix its environment.
 */
export const EX_CONFIG = 78;

/**
 * Parses the environment for a process entry point: on a bad environment prints the
 * one message listing every problem and exits with EX_CONFIG (78), without a stack trace.
 */
export function parseEnvOrExit<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(EX_CONFIG);
    }
    throw error;
  }
}
