/**
 * What every stage's job does around its own work: watch for cancellation, hand the
 * job back on shutdown, and turn failures into the generation's terminal state. The
 * planner and decoder jobs only say what their stage computes.
 */
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import { type StopReason, watchCancellation } from './cancellation-watch.ts';
import type { GenerationRecord, WebhookEvent } from './generation.ts';
import type { GenerationStore } from './generation-store.ts';
import type { ServiceMetrics } from './metrics.ts';
import { SpanKind, type TraceCarrier, withSpan } from './tracing.ts';

/** Error codes that no retry can fix: the input or the model is at fault. */
export const PERMANENT_ERROR_CODES: ReadonlySet<string> = new Set([
  'invalid_input',
  'model_error',
  'model_pack_invalid',
  'unsupported',
]);

export function errorCodeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[a-z][a-z0-9_]*$/.test(code) ? code : 'internal_error';
}

export function isPermanentError(error: unknown): boolean {
  return error instanceof UnrecoverableError || PERMANENT_ERROR_CODES.has(errorCodeOf(error));
}

function isStop(error: unknown, signal: AbortSignal): boolean {
  return (
    signal.aborted && (errorCodeOf(error) === 'canceled' || (error as Error | null)?.name === 'AbortError')
  );
}

export interface JobLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Announces a generation event (webhooks); absent when webhooks are not wired. */
export type Announce = (record: GenerationRecord, event: WebhookEvent) => Promise<void>;

export interface GenerationJobContext {
  store: GenerationStore;
  metrics: ServiceMetrics;
  log: JobLogger;
  announce: Announce;
  /** Running jobs, so that a shutdown past its grace period can stop them. */
  running: Set<{ shutdown(): void }>;
}

export interface StageWork {
  record: GenerationRecord;
  signal: AbortSignal;
}

/**
 * Runs `work` for the generation named by `job.data.generationId`. Returns without
 * running it when the generation is gone or already over (a retried or duplicate job).
 */
export async function runGenerationJob<Data extends { generationId: string; trace?: TraceCarrier }>(
  ctx: GenerationJobContext,
  job: Job<Data>,
  token: string | undefined,
  work: (stage: StageWork) => Promise<void>,
): Promise<void> {
  const id = job.data.generationId;
  const record = await ctx.store.get(id);
  if (
    !record ||
    record.status === 'succeeded' ||
    record.status === 'failed' ||
    record.status === 'canceled'
  ) {
    ctx.log.info(
      { generation_id: id, status: record?.status ?? 'expired' },
      'job skipped: generation already over',
    );
    return;
  }
  if (record.cancel_requested) {
    await finishCanceled(ctx, id);
    return;
  }

  const watch = watchCancellation(ctx.store, id);
  ctx.running.add(watch);
  try {
    // One trace per generation: each stage's span continues the context carried in the job.
    await withSpan(
      `${job.queueName} job`,
      { 'generation.id': id, 'generation.tenant': record.tenant, 'job.attempt': job.attemptsMade + 1 },
      () => work({ record, signal: watch.signal }),
      { kind: SpanKind.CONSUMER, ...(job.data.trace ? { parent: job.data.trace } : {}) },
    );
  } catch (error) {
    if (isStop(error, watch.signal)) {
      if ((watch.signal.reason as StopReason) === 'shutdown') {
        // Hand the job back without spending an attempt: another worker picks it up now.
        ctx.log.warn({ generation_id: id }, 'shutting down: job handed back to the queue');
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      await finishCanceled(ctx, id);
      return;
    }
    const permanent = isPermanentError(error);
    const attempts = job.opts.attempts ?? 1;
    const lastAttempt = job.attemptsMade + 1 >= attempts;
    const code = errorCodeOf(error);
    const message = (error as Error)?.message ?? String(error);
    if (permanent || lastAttempt) {
      ctx.log.error({ generation_id: id, code, err: message }, 'generation failed');
      const failed = await ctx.store.transition(id, 'failed', {
        error: { code, message: code === 'internal_error' ? 'Internal error while generating' : message },
      });
      if (failed) {
        ctx.metrics.countGeneration('failed', code);
        await ctx.announce(failed, 'generation.failed');
      }
      if (permanent) throw new UnrecoverableError(message);
    } else {
      ctx.log.warn(
        { generation_id: id, code, err: message, attempt: job.attemptsMade + 1 },
        'job will be retried',
      );
    }
    throw error;
  } finally {
    watch.dispose();
    ctx.running.delete(watch);
  }
}

async function finishCanceled(ctx: GenerationJobContext, id: string): Promise<void> {
  const canceled = await ctx.store.transition(id, 'canceled', {});
  if (canceled) {
    ctx.metrics.countGeneration('canceled');
    await ctx.announce(canceled, 'generation.canceled');
  }
}

/**
 * BullMQ fails a job without running it again when its worker died once too often
 * (`maxStalledCount`): the processor never sees that failure, so the generation is
 * failed here, from the worker's `failed` event. Harmless for failures the processor
 * already recorded: the transition to `failed` is refused once the record is terminal.
 */
export async function failGenerationIfJobIsOver(
  ctx: Pick<GenerationJobContext, 'store' | 'metrics' | 'announce'>,
  job: Pick<Job<{ generationId: string }>, 'data' | 'attemptsMade' | 'opts'>,
  error: Error,
): Promise<boolean> {
  const stalledOut = /stalled more than allowable limit/i.test(error.message);
  const attemptsUsed = job.attemptsMade >= (job.opts.attempts ?? 1);
  if (!stalledOut && !attemptsUsed) return false;
  const code = stalledOut ? 'worker_lost' : errorCodeOf(error);
  const message = stalledOut
    ? 'The workers running this generation stopped responding too many times'
    : 'Internal error while generating';
  const failed = await ctx.store.transition(job.data.generationId, 'failed', { error: { code, message } });
  if (!failed) return false;
  ctx.metrics.countGeneration('failed', code);
  await ctx.announce(failed, 'generation.failed');
  return true;
}
