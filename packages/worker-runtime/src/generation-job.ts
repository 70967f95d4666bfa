/**
 * What every stage's job does around its own work: validate its payload, skip work that
 * is over, watch for cancellation, hand the job back on shutdown, and turn failures into
 * the generation's ending through the lifecycle. The planner and decoder jobs only say
 * what their stage computes.
 */
import type { GenerationRecord } from '@glm-image/shared/generation';
import { isTerminal } from '@glm-image/shared/generation';
import type { GenerationLifecycle } from '@glm-image/shared/lifecycle';
import type { TraceCarrier } from '@glm-image/shared/tracing';
import { SpanKind, withSpan } from '@glm-image/shared/tracing';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { z } from 'zod';
import { type StopReason, watchCancellation } from './cancellation-watch.ts';
import { classifyFailure, publicMessage } from './job-failures.ts';

export interface JobLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface GenerationJobContext {
  lifecycle: GenerationLifecycle;
  log: JobLogger;
  /** Running jobs, so that a shutdown can tell them it began and, past its grace period, stop them. */
  running: Set<RunningJob>;
}

export interface RunningJob {
  /** Stops the job at its next step and hands it back (SIGTERM past the grace period). */
  shutdown(): void;
  /** The worker begins shutting down (see StageWork.draining). */
  drain?(): void;
}

export interface StageWork<Data> {
  record: GenerationRecord;
  /** The job's payload, validated against its catalog schema. */
  data: Data;
  signal: AbortSignal;
  /**
   * Aborts when the worker begins shutting down. A job whose model work has not begun
   * yet (it waits behind another job's) should `handBack()` at once rather than start
   * within the grace period; a job already at work may finish.
   */
  draining: AbortSignal;
  /** Hands the job back to the queue without spending an attempt (stops it as a shutdown does). */
  handBack(): void;
}

interface GenerationJobData {
  generationId: string;
  trace?: TraceCarrier;
}

/**
 * Runs `work` for the generation named by the job. Returns without running it when the
 * generation is gone or already over (a retried or duplicate job), announcing its ending
 * again in case the process that ended it died before it could.
 */
export async function runGenerationJob<Schema extends z.ZodType<GenerationJobData>>(
  ctx: GenerationJobContext,
  schema: Schema,
  job: Job,
  token: string | undefined,
  work: (stage: StageWork<z.infer<Schema>>) => Promise<void>,
): Promise<void> {
  const parsed = schema.safeParse(job.data);
  if (!parsed.success) {
    // A payload no version of this worker can read: no retry will change it.
    ctx.log.error({ job_id: job.id, queue: job.queueName, err: parsed.error.message }, 'invalid job payload');
    throw new UnrecoverableError(`invalid ${job.queueName} job payload`);
  }
  const data = parsed.data;
  const id = data.generationId;
  const { lifecycle } = ctx;
  const record = await lifecycle.store.get(id);
  if (!record || isTerminal(record.status)) {
    ctx.log.info(
      { generation_id: id, status: record?.status ?? 'expired' },
      'job skipped: generation already over',
    );
    if (record) await lifecycle.reannounce(record);
    return;
  }
  if (record.cancel_requested) {
    await lifecycle.finishCanceled(id);
    return;
  }

  const watch = watchCancellation(lifecycle.store, id);
  ctx.running.add(watch);
  try {
    // One trace per generation: each stage's span continues the context carried in the job.
    await withSpan(
      `${job.queueName} job`,
      { 'generation.id': id, 'generation.tenant': record.tenant, 'job.attempt': job.attemptsMade + 1 },
      () => work({ record, data, signal: watch.signal, draining: watch.draining, handBack: watch.shutdown }),
      { kind: SpanKind.CONSUMER, ...(data.trace ? { parent: data.trace } : {}) },
    );
  } catch (error) {
    const failure = classifyFailure(error, watch.signal);
    if (failure === 'stopped') {
      if ((watch.signal.reason as StopReason) === 'shutdown') {
        // Hand the job back without spending an attempt: another worker picks it up now.
        ctx.log.warn({ generation_id: id }, 'shutting down: job handed back to the queue');
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      await lifecycle.finishCanceled(id);
      return;
    }
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const { code, message } = publicMessage(error);
    if (failure === 'permanent' || lastAttempt) {
      ctx.log.error({ generation_id: id, code, err: (error as Error)?.message }, 'generation failed');
      await lifecycle.fail(id, { code, message });
      if (failure === 'permanent') throw new UnrecoverableError(message);
    } else {
      ctx.log.warn(
        { generation_id: id, code, err: (error as Error)?.message, attempt: job.attemptsMade + 1 },
        'job will be retried',
      );
    }
    throw error;
  } finally {
    watch.dispose();
    ctx.running.delete(watch);
  }
}

/**
 * BullMQ fails a job without running it again when its worker died once too often
 * (`maxStalledCount`): the processor never sees that failure, so the generation is
 * failed here, from the worker's `failed` event. Harmless for failures the processor
 * already recorded: the lifecycle refuses a second ending.
 */
export async function failGenerationIfJobIsOver(
  lifecycle: GenerationLifecycle,
  job: Pick<Job<{ generationId: string }>, 'data' | 'attemptsMade' | 'opts' | 'stalledCounter'>,
  maxStalledCount: number,
): Promise<boolean> {
  const stalledOut = job.stalledCounter > maxStalledCount;
  const attemptsUsed = job.attemptsMade >= (job.opts.attempts ?? 1);
  if (!stalledOut && !attemptsUsed) return false;
  const error = stalledOut
    ? {
        code: 'worker_lost',
        message: 'The workers running this generation stopped responding too many times',
      }
    : { code: 'internal_error', message: 'Internal error while generating' };
  return (await lifecycle.fail(job.data.generationId, error)) !== null;
}
