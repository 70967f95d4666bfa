import { randomInt } from 'node:crypto';
import {
  AppError,
  IdempotencyConflictError,
  InvalidInputError,
  NotFoundError,
} from '@glm-image/shared/errors';
import {
  type GenerationInput,
  type GenerationRecord,
  isTerminal,
  type WebhookEvent,
} from '@glm-image/shared/generation';
import { decodeJobId } from '@glm-image/shared/queues';
import { SpanKind, traceField, withSpan } from '@glm-image/shared/tracing';
import { DEFAULT_WEBHOOK_EVENTS as SHARED_DEFAULT_WEBHOOK_EVENTS } from '@glm-image/shared/webhooks/notifier';
import type { FastifyBaseLogger } from 'fastify';
import { ulid } from 'ulid';
import type { ApiContext } from '../context.ts';
import { sizeProblem } from '../model-limits.ts';
import { canSee, DEFAULT_TENANT_LIMITS, type Principal } from '../plugins/auth.ts';
import type { CreateGenerationBody } from '../schemas/generation.ts';
import { announceCancel } from './cancel-notifier.ts';
import { hashBody, IdempotencyKeys } from './idempotency.ts';

/** Webhook events sent when a request names none: the terminal ones. */
export const DEFAULT_WEBHOOK_EVENTS: WebhookEvent[] = [...SHARED_DEFAULT_WEBHOOK_EVENTS];

/** A feature the API describes but does not serve yet. */
export class UnsupportedFeatureError extends AppError {
  constructor(message: string) {
    super('unsupported', message, 400);
  }
}

export function newGenerationId(): string {
  return `gen_${ulid().toLowerCase()}`;
}

function randomSeed(): number {
  return randomInt(0, 2 ** 32);
}

export interface Submission {
  record: GenerationRecord;
  /** False when an Idempotency-Key replay answered with the first request's generation. */
  created: boolean;
}

/** How long a duplicate request waits for the first one (same Idempotency-Key) to store its record. */
const REPLAY_WAIT_MS = 3000;

/** A queued record this old without a job was stranded by a crash between store and enqueue. */
const STRANDED_AFTER_MS = 15_000;

export class GenerationService {
  private readonly idempotency: IdempotencyKeys;

  constructor(
    private readonly ctx: ApiContext,
    private readonly log?: FastifyBaseLogger,
  ) {
    this.idempotency = new IdempotencyKeys(ctx.redis, ctx.keyPrefix);
  }

  /** The normalized input: every default taken from the model pack, the seed chosen. */
  normalize(body: CreateGenerationBody): GenerationInput {
    if (body.reference_images !== undefined) {
      throw new UnsupportedFeatureError('reference_images: image-to-image editing is not supported yet');
    }
    const defaults = this.ctx.limits.defaults;
    const width = body.width ?? defaults.width;
    const height = body.height ?? defaults.height;
    const problem = sizeProblem(this.ctx.limits, width, height);
    if (problem) throw new InvalidInputError(problem, problem.split(':')[0]);
    const input: GenerationInput = {
      prompt: body.prompt,
      width,
      height,
      seed: body.seed ?? randomSeed(),
      steps: body.steps ?? defaults.steps,
      guidance_scale: body.guidance_scale ?? defaults.guidance_scale,
      temperature: body.temperature ?? defaults.temperature,
      top_p: body.top_p ?? defaults.top_p,
      n: body.n ?? 1,
      output_format: body.output_format ?? 'png',
    };
    if (body.webhook) {
      input.webhook = { url: body.webhook.url, events: body.webhook.events ?? DEFAULT_WEBHOOK_EVENTS };
    }
    return input;
  }

  async submit(
    principal: Principal,
    body: CreateGenerationBody,
    idempotencyKey?: string,
  ): Promise<Submission> {
    const input = this.normalize(body);
    if (input.webhook) await this.ctx.webhookTargets.assertDeliverable(input.webhook.url);
    const id = newGenerationId();
    const create = async (): Promise<Submission> => ({
      record: await this.createAndEnqueue(
        principal,
        id,
        input,
        body.metadata,
        this.planJob(principal.tenant, principal.priority, id),
      ),
      created: true,
    });
    if (idempotencyKey === undefined) return create();
    const key = IdempotencyKeys.validateKey(idempotencyKey);
    const claim = await this.idempotency.claim(principal.tenant, key, hashBody(body), id);
    if (claim.kind === 'replay')
      return { record: await this.awaitReplay(claim.generationId), created: false };
    try {
      return await create();
    } catch (error) {
      await this.idempotency.release(principal.tenant, key, id).catch(() => undefined);
      throw error;
    }
  }

  /** Enqueues the plan job; its job id is the generation id, so a cancel can find and remove it. */
  private planJob(tenant: string, priority: number, id: string): () => Promise<unknown> {
    // The generation's trace starts here; the job carries its context to the planner.
    return () =>
      withSpan(
        'generation.enqueue',
        { 'generation.id': id, 'generation.tenant': tenant },
        () =>
          this.ctx.planQueue.add(
            'plan',
            { generationId: id, tenant, ...traceField() },
            { jobId: id, priority },
          ),
        { kind: SpanKind.PRODUCER },
      );
  }

  /**
   * Stores a queued record and enqueues its first job. When the queue cannot take the
   * job the record is failed at once, so nothing is left queued that no worker will see.
   */
  async createAndEnqueue(
    principal: Principal,
    id: string,
    input: GenerationInput,
    metadata: Record<string, unknown> | undefined,
    enqueue: () => Promise<unknown>,
  ): Promise<GenerationRecord> {
    await this.ctx.inFlight.assertRoom(principal.tenant, principal.maxInFlight);
    const record: GenerationRecord = {
      id,
      tenant: principal.tenant,
      status: 'queued',
      created_at: new Date().toISOString(),
      input,
      progress: { stage: 'queued' },
      outputs: [],
      timings: {},
    };
    if (metadata !== undefined) record.metadata = metadata;
    await this.ctx.store.create(record);
    await this.ctx.inFlight.add(principal.tenant, id);
    try {
      await enqueue();
    } catch (error) {
      await this.ctx.store
        .transition(id, 'failed', { error: { code: 'service_unavailable', message: 'could not be queued' } })
        .catch(() => undefined);
      throw error;
    }
    return record;
  }

  /** The first request under an Idempotency-Key may still be storing its record. */
  private async awaitReplay(id: string): Promise<GenerationRecord> {
    const deadline = Date.now() + REPLAY_WAIT_MS;
    for (;;) {
      const record = await this.ctx.store.get(id);
      if (record) return record;
      if (Date.now() > deadline) {
        throw new IdempotencyConflictError(
          'A request with this Idempotency-Key is still in progress; retry shortly',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The record if the caller may see it; another tenant's id is indistinguishable from an unknown one. */
  async find(principal: Principal, id: string): Promise<GenerationRecord> {
    const record = await this.ctx.store.get(id);
    if (!record || !canSee(principal, record.tenant)) throw new NotFoundError(`No generation ${id}`);
    return this.repairIfStranded(record);
  }

  /**
   * A record is stored before its job is enqueued; an API process that dies between the
   * two leaves a queued generation no worker will ever see. Whoever reads such a record
   * (its client polling, or replaying its Idempotency-Key) queues it again: the job id
   * is the generation id, so this can never run it twice. A re-render's tokens are not
   * at hand here, so a stranded re-render is failed instead, visibly.
   */
  private async repairIfStranded(record: GenerationRecord): Promise<GenerationRecord> {
    if (record.status !== 'queued' || Date.now() - Date.parse(record.created_at) < STRANDED_AFTER_MS)
      return record;
    const rerender = record.input.source_generation_id !== undefined;
    const job = rerender
      ? await this.ctx.decodeQueue.getJob(decodeJobId(record.id))
      : await this.ctx.planQueue.getJob(record.id);
    if (job) return record;
    if (rerender) {
      const failed = await this.ctx.store.transition(record.id, 'failed', {
        error: { code: 'service_unavailable', message: 'The re-render was never queued; request it again' },
      });
      return failed ?? record;
    }
    this.log?.warn({ generation_id: record.id }, 'queued generation had no job: queued again');
    // The tenant's priority is not stored on the record; the default is a fair guess.
    await this.planJob(record.tenant, DEFAULT_TENANT_LIMITS.priority, record.id)();
    return record;
  }

  /**
   * Queued: the waiting plan job is removed and the record canceled at once. Running:
   * cancel is requested and the worker stops within one model step. Finished: no-op.
   */
  async cancel(principal: Principal, id: string): Promise<GenerationRecord> {
    const record = await this.find(principal, id);
    if (isTerminal(record.status)) return record;
    await this.removeWaitingJob(() => this.ctx.planQueue.getJob(id));
    if (record.input.source_generation_id) {
      // A re-render waits in the decode queue from the start.
      await this.removeWaitingJob(() => this.ctx.decodeQueue.getJob(decodeJobId(id)));
    }
    let canceled = await this.ctx.store.requestCancel(id);
    if (canceled && !isTerminal(canceled.status)) {
      // A decode job nobody has picked up yet can go too; the generation then ends here.
      const removed = await this.removeWaitingJob(() => this.ctx.decodeQueue.getJob(decodeJobId(id)));
      if (removed)
        canceled = (await this.ctx.store.transition(id, 'canceled')) ?? (await this.ctx.store.get(id));
    }
    if (!canceled) throw new NotFoundError(`No generation ${id}`);
    if (canceled.status === 'canceled' && record.status !== 'canceled') {
      await announceCancel(this.ctx.canceled, canceled, this.log);
    }
    return canceled;
  }

  /** Removes a job that is still waiting; a job a worker holds (locked) stays and is told via the record. */
  private async removeWaitingJob(
    find: () => Promise<{ getState(): Promise<string>; remove(): Promise<void> } | undefined>,
  ) {
    try {
      const job = await find();
      if (!job) return false;
      const state = await job.getState();
      if (state !== 'waiting' && state !== 'prioritized' && state !== 'delayed') return false;
      await job.remove();
      return true;
    } catch {
      // Taken by a worker between the two calls: the cancel flag on the record stops it.
      return false;
    }
  }

  /**
   * Waits until the generation ends or `seconds` pass, following its event stream (no
   * polling); returns the latest record either way.
   */
  async waitForEnd(id: string, seconds: number, signal?: AbortSignal): Promise<GenerationRecord | null> {
    const deadline = Date.now() + seconds * 1000;
    let cursor = '0';
    for (;;) {
      const record = await this.ctx.store.get(id);
      const remaining = deadline - Date.now();
      if (!record || isTerminal(record.status) || remaining <= 0 || signal?.aborted) return record;
      const events = await this.ctx.store.readEvents(id, cursor, Math.max(1, Math.min(remaining, 5000)));
      const last = events.at(-1);
      if (last) cursor = last.id;
    }
  }
}
