/**
 * Puts a generation's first job on its queue: the plan job, or a re-render's decode job.
 * Job ids are derived from the generation id, so enqueuing twice (a retried request, the
 * reconciler) is a no-op, and the tenant's priority stored on the record travels along.
 * The generation's trace starts here; the job carries its context to the worker.
 */
import type { GenerationRecord } from '@glm-image/shared/generation';
import { type DecodeJobData, decodeJobId, type PlanJobData } from '@glm-image/shared/queues';
import type { TokenGrid } from '@glm-image/shared/tokens';
import { SpanKind, traceField, withSpan } from '@glm-image/shared/tracing';
import type { Queue } from 'bullmq';

export class JobEnqueuer {
  constructor(
    private readonly planQueue: Queue<PlanJobData>,
    private readonly decodeQueue: Queue<DecodeJobData>,
  ) {}

  enqueuePlan(record: GenerationRecord): Promise<unknown> {
    return withSpan(
      'generation.enqueue',
      { 'generation.id': record.id, 'generation.tenant': record.tenant },
      () =>
        this.planQueue.add(
          'plan',
          { generationId: record.id, tenant: record.tenant, ...traceField() },
          { jobId: record.id, ...priorityOf(record) },
        ),
      { kind: SpanKind.PRODUCER },
    );
  }

  /** A re-render's decode job: the stored plan's main grid, and its reference images' tokens if any. */
  enqueueDecode(record: GenerationRecord, main: TokenGrid, references?: TokenGrid[]): Promise<unknown> {
    const source = record.input.source_generation_id;
    return withSpan(
      'generation.enqueue',
      {
        'generation.id': record.id,
        'generation.tenant': record.tenant,
        ...(source ? { 'generation.source_id': source } : {}),
      },
      () =>
        this.decodeQueue.add(
          'decode',
          {
            generationId: record.id,
            tenant: record.tenant,
            main,
            ...(references?.length ? { references } : {}),
            ...traceField(),
          },
          { jobId: decodeJobId(record.id), ...priorityOf(record) },
        ),
      { kind: SpanKind.PRODUCER },
    );
  }

  /** Whether the generation's first job exists in its queue (in any state). */
  async hasFirstJob(record: GenerationRecord): Promise<boolean> {
    const job = record.input.source_generation_id
      ? await this.decodeQueue.getJob(decodeJobId(record.id))
      : await this.planQueue.getJob(record.id);
    return job !== undefined && job !== null;
  }
}

function priorityOf(record: GenerationRecord): { priority?: number } {
  return record.priority ? { priority: record.priority } : {};
}
