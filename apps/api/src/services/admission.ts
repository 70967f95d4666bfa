/**
 * Admission: a request becomes a queued generation. The input is normalized (every
 * default from the model pack, the seed chosen), the webhook target checked, reference
 * images read and checked, the Idempotency-Key claimed, the references stored with the
 * generation; then the lifecycle stores the record (counted against the tenant's cap in
 * the same script, O(1) whatever the backlog) and the first job is enqueued. A job that cannot be enqueued fails the generation at once, through the
 * lifecycle, so its metric and webhook go out like any other ending.
 */
import { randomInt } from 'node:crypto';
import {
  IdempotencyConflictError,
  InvalidInputError,
  ServiceUnavailableError,
  UnsupportedFeatureError,
} from '@glm-image/shared/errors';
import type { GenerationInput, GenerationRecord } from '@glm-image/shared/generation';
import type { GenerationStore } from '@glm-image/shared/generation-store';
import type { GenerationLifecycle } from '@glm-image/shared/lifecycle';
import { DEFAULT_WEBHOOK_EVENTS } from '@glm-image/shared/webhooks/notifier';
import { ulid } from 'ulid';
import { assertSizeServed, type ModelLimits } from '../model-limits.ts';
import type { Principal } from '../plugins/auth.ts';
import type { CreateGenerationBody } from '../schemas/generation.ts';
import { hashBody, IdempotencyKeys } from './idempotency.ts';
import type { JobEnqueuer } from './job-enqueuer.ts';
import type { AcceptedReference, ReferenceImages } from './reference-images.ts';
import type { WebhookTargetCheck } from './webhook-targets.ts';

export function newGenerationId(): string {
  return `gen_${ulid().toLowerCase()}`;
}

export function randomSeed(): number {
  return randomInt(0, 2 ** 32);
}

export interface Submission {
  record: GenerationRecord;
  /** False when an Idempotency-Key replay answered with the first request's generation. */
  created: boolean;
}

/** How long a duplicate request waits for the first one (same Idempotency-Key) to store its record. */
const REPLAY_WAIT_MS = 3000;

export interface AdmissionDeps {
  lifecycle: GenerationLifecycle;
  store: GenerationStore;
  limits: ModelLimits;
  idempotency: IdempotencyKeys;
  webhookTargets: WebhookTargetCheck;
  /** Tenant → signing secret (WEBHOOK_SECRETS): a tenant without one cannot ask for webhooks. */
  webhookSecrets: Readonly<Record<string, string>>;
  jobs: JobEnqueuer;
  references: ReferenceImages;
}

export class Admission {
  constructor(private readonly deps: AdmissionDeps) {}

  /** The normalized input: every default taken from the model pack, the seed chosen. */
  normalize(body: CreateGenerationBody): GenerationInput {
    if (body.reference_images?.length && !this.deps.limits.referenceImages) {
      throw new UnsupportedFeatureError(
        `reference_images: model pack ${this.deps.limits.packName} does not take reference images`,
      );
    }
    const defaults = this.deps.limits.defaults;
    const width = body.width ?? defaults.width;
    const height = body.height ?? defaults.height;
    assertSizeServed(this.deps.limits, width, height);
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
      decode: body.decode ?? true,
    };
    if (body.webhook) {
      input.webhook = { url: body.webhook.url, events: body.webhook.events ?? [...DEFAULT_WEBHOOK_EVENTS] };
    }
    return input;
  }

  /**
   * Refuses, as a 400, a webhook that could never be delivered or never verified: a
   * target the SSRF guard refuses (naming `webhook.url`), or a tenant without a signing
   * secret, whose receiver could not tell our deliveries from anyone's.
   */
  async checkWebhook(principal: Principal, input: GenerationInput): Promise<void> {
    if (!input.webhook) return;
    if (!this.deps.webhookSecrets[principal.tenant]) {
      throw new InvalidInputError(
        'webhook',
        `no signing secret is configured for tenant ${principal.tenant} (WEBHOOK_SECRETS); deliveries could not be verified`,
      );
    }
    await this.deps.webhookTargets.assertDeliverable(input.webhook.url);
  }

  async submit(
    principal: Principal,
    body: CreateGenerationBody,
    idempotencyKey?: string,
  ): Promise<Submission> {
    const input = this.normalize(body);
    await this.checkWebhook(principal, input);
    const references: AcceptedReference[] = body.reference_images?.length
      ? await this.deps.references.load(principal, body.reference_images)
      : [];
    const id = newGenerationId();
    const create = async (): Promise<Submission> => {
      if (references.length > 0) {
        input.reference_images = await this.deps.references.store(
          { tenant: principal.tenant, id },
          references,
        );
      }
      return { record: await this.admit(principal, id, input, body.metadata), created: true };
    };
    if (idempotencyKey === undefined) return create();
    const key = IdempotencyKeys.validateKey(idempotencyKey);
    const claim = await this.deps.idempotency.claim(principal.tenant, key, hashBody(body), id);
    if (claim.kind === 'replay')
      return { record: await this.awaitReplay(claim.generationId), created: false };
    try {
      return await create();
    } catch (error) {
      await this.deps.idempotency.release(principal.tenant, key, id).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Stores a queued record and enqueues its first job: the plan job, or for a re-render
   * (`input.source_generation_id`) the decode job that `enqueue` adds. The input is
   * normalized and its webhook checked already.
   */
  async admit(
    principal: Principal,
    id: string,
    input: GenerationInput,
    metadata: Record<string, unknown> | undefined,
    enqueue: (record: GenerationRecord) => Promise<unknown> = (record) => this.deps.jobs.enqueuePlan(record),
  ): Promise<GenerationRecord> {
    const record: GenerationRecord = {
      id,
      tenant: principal.tenant,
      status: 'queued',
      created_at: new Date().toISOString(),
      input,
      progress: { stage: 'queued' },
      outputs: [],
      timings: {},
      priority: principal.priority,
    };
    if (metadata !== undefined) record.metadata = metadata;
    await this.deps.lifecycle.create(record, principal.maxInFlight);
    try {
      await enqueue(record);
    } catch (error) {
      const message = 'The generation could not be queued; submit it again';
      await this.deps.lifecycle.fail(id, { code: 'service_unavailable', message }).catch(() => undefined);
      throw new ServiceUnavailableError(message, { cause: error });
    }
    // Best effort: were this lost, the reconciler finds the job present and lets the record be.
    await this.deps.lifecycle.enqueued(id).catch(() => undefined);
    return record;
  }

  /** The first request under an Idempotency-Key may still be storing its record. */
  private async awaitReplay(id: string): Promise<GenerationRecord> {
    const deadline = Date.now() + REPLAY_WAIT_MS;
    for (;;) {
      const record = await this.deps.store.get(id);
      if (record) return record;
      if (Date.now() > deadline) {
        throw new IdempotencyConflictError(
          'A request with this Idempotency-Key is still in progress; retry shortly',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
