/**
 * The job catalog: queue names, payload schemas and retry policy in one place, so a
 * change to how a job moves touches this file and the job's handler, not every app.
 */
import { hostname } from 'node:os';
import { type ConnectionOptions, type JobsOptions, type Processor, Queue, Worker } from 'bullmq';
import { z } from 'zod';
import type { CommonEnv, WorkerEnv } from './env.ts';
import { tokenGridSchema } from './tokens.ts';

export const planJobDataSchema = z.object({
  generationId: z.string().min(1),
  tenant: z.string().min(1),
  /** W3C trace context carried across the queue (traceparent, tracestate). */
  trace: z.record(z.string(), z.string()).optional(),
});
export type PlanJobData = z.infer<typeof planJobDataSchema>;

export const decodeJobDataSchema = z.object({
  generationId: z.string().min(1),
  tenant: z.string().min(1),
  /** The planner's main grid of semantic tokens. */
  main: tokenGridSchema,
  /**
   * Image-to-image: each reference image's tokens, in the order of the generation's
   * `input.reference_images` (the images themselves are read from the object store).
   */
  references: z.array(tokenGridSchema).max(4).optional(),
  trace: z.record(z.string(), z.string()).optional(),
});
export type DecodeJobData = z.infer<typeof decodeJobDataSchema>;

/** The decode job of a generation has a fixed id, so a retried plan job cannot enqueue it twice. */
export function decodeJobId(generationId: string): string {
  return `${generationId}-decode`;
}

/**
 * Scoring a generation that succeeded, off the request path (the evaluator worker). It
 * carries only the id: the scorers read the record and its stored objects.
 */
export const evaluateJobDataSchema = z.object({
  generationId: z.string().min(1),
  tenant: z.string().min(1),
});
export type EvaluateJobData = z.infer<typeof evaluateJobDataSchema>;

/** One evaluate job per generation: announcing a success again does not score it twice. */
export function evaluateJobId(generationId: string): string {
  return `${generationId}-evaluate`;
}

export type QueueKind = 'plan' | 'decode' | 'webhook' | 'evaluate';

export interface QueueSettings {
  /**
   * BullMQ key prefix. Must contain a Redis Cluster hash tag (default `{glm}`) so that
   * all keys of a queue, which BullMQ's Lua scripts touch together, share one slot.
   */
  prefix: string;
  /** Queue name per kind. Defaults: plan, decode, webhook, evaluate. */
  names: Record<QueueKind, string>;
  /** Tries per job, the first included. Default: 3 (JOB_ATTEMPTS). */
  attempts: number;
  /** First retry delay; doubles on each retry (exponential). Default: 1000 ms (JOB_BACKOFF_MS). */
  backoffMs: number;
}

export function queueSettingsFromEnv(env: CommonEnv): QueueSettings {
  return {
    prefix: env.QUEUE_PREFIX,
    names: {
      plan: env.PLAN_QUEUE,
      decode: env.DECODE_QUEUE,
      webhook: env.WEBHOOK_QUEUE,
      evaluate: env.EVALUATE_QUEUE,
    },
    attempts: env.JOB_ATTEMPTS,
    backoffMs: env.JOB_BACKOFF_MS,
  };
}

export function assertHashTaggedPrefix(prefix: string): void {
  if (!/\{[^{}]+\}/.test(prefix)) {
    throw new Error(`Queue prefix "${prefix}" must contain a Redis Cluster hash tag such as {glm}`);
  }
}

/** Finished jobs kept for inspection; bounded so Redis memory stays flat under load. */
export const REMOVE_ON_COMPLETE = { age: 3600, count: 1000 } as const;
/** Failed jobs are kept longer (a day, at most 5000) because someone may need to look at them. */
export const REMOVE_ON_FAIL = { age: 86_400, count: 5000 } as const;

/** Options every job gets when added: retry policy and bounded retention of finished jobs. */
export function defaultJobOptions(settings: QueueSettings): JobsOptions {
  return {
    attempts: settings.attempts,
    backoff: { type: 'exponential', delay: settings.backoffMs },
    removeOnComplete: REMOVE_ON_COMPLETE,
    removeOnFail: REMOVE_ON_FAIL,
  };
}

export function createQueue<Data>(
  kind: QueueKind,
  connection: ConnectionOptions,
  settings: QueueSettings,
): Queue<Data> {
  assertHashTaggedPrefix(settings.prefix);
  return new Queue<Data>(settings.names[kind], {
    connection,
    prefix: settings.prefix,
    defaultJobOptions: defaultJobOptions(settings),
  });
}

export function createPlanQueue(connection: ConnectionOptions, settings: QueueSettings): Queue<PlanJobData> {
  return createQueue<PlanJobData>('plan', connection, settings);
}

export function createDecodeQueue(
  connection: ConnectionOptions,
  settings: QueueSettings,
): Queue<DecodeJobData> {
  return createQueue<DecodeJobData>('decode', connection, settings);
}

export interface WorkerSettings {
  /** Jobs one process runs at once (PLANNER_MAX_BATCH, default 8 / DECODER_CONCURRENCY, default 2 / EVALUATOR_CONCURRENCY, default 1). */
  concurrency: number;
  /**
   * How long a job's lock lasts. A worker that dies loses its locks after this long and
   * its jobs are run again. Default: 6000 ms (LOCK_DURATION_MS).
   */
  lockDurationMs: number;
  /**
   * How often a worker renews the locks of the jobs it holds. Default: a quarter of the
   * lock, 1500 ms (LOCK_RENEW_MS).
   */
  lockRenewMs: number;
  /** How often a worker looks for jobs whose lock expired. Default: 1500 ms (STALLED_INTERVAL_MS). */
  stalledIntervalMs: number;
  /** How many times a job may stall before it fails. Default: 1 (BullMQ's). */
  maxStalledCount?: number;
  /** Start processing at once. Default: true; false lets a caller attach listeners first. */
  autorun?: boolean;
  /** Longest a fetch waits for a job before asking again, in seconds. Default: 5 (BullMQ's). */
  drainDelaySeconds?: number;
}

export function workerSettingsFromEnv(env: WorkerEnv): WorkerSettings {
  const concurrency =
    'PLANNER_MAX_BATCH' in env
      ? env.PLANNER_MAX_BATCH
      : 'EVALUATOR_CONCURRENCY' in env
        ? env.EVALUATOR_CONCURRENCY
        : env.DECODER_CONCURRENCY;
  return {
    concurrency,
    lockDurationMs: env.LOCK_DURATION_MS,
    lockRenewMs: env.LOCK_RENEW_MS ?? Math.max(1, Math.floor(env.LOCK_DURATION_MS / 4)),
    stalledIntervalMs: env.STALLED_INTERVAL_MS,
  };
}

/**
 * The name a worker gives BullMQ: this process, as `host:pid`. BullMQ stores it on each
 * job the worker takes (`processedBy`), so a job names the process that ran it last; in
 * Kubernetes the host is the pod.
 */
export function workerProcessName(): string {
  return `${hostname()}:${process.pid}`;
}

/**
 * A worker on one queue of the catalog. The connection must allow blocking commands
 * with `maxRetriesPerRequest: null` (createRedis(url, { forWorker: true })). A null
 * processor makes a worker whose jobs the caller fetches by hand (`getNextJob`).
 */
export function createWorker<Data>(
  kind: QueueKind,
  processor: Processor<Data> | null,
  connection: ConnectionOptions,
  settings: QueueSettings,
  worker: WorkerSettings,
): Worker<Data> {
  assertHashTaggedPrefix(settings.prefix);
  return new Worker<Data>(settings.names[kind], processor, {
    connection,
    prefix: settings.prefix,
    name: workerProcessName(),
    concurrency: worker.concurrency,
    lockDuration: worker.lockDurationMs,
    lockRenewTime: worker.lockRenewMs,
    stalledInterval: worker.stalledIntervalMs,
    maxStalledCount: worker.maxStalledCount ?? 1,
    autorun: worker.autorun ?? true,
    ...(worker.drainDelaySeconds !== undefined ? { drainDelay: worker.drainDelaySeconds } : {}),
  });
}
