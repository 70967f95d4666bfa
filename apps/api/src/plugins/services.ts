/**
 * The API's services, as decorators built on the infrastructure's: admission, reads,
 * the event hub, cancellation, re-renders, feedback and the training export, and the one
 * presenter of the generation object.
 */
import { DEFAULT_REFERENCE_IMAGE_LIMITS } from '@glm-image/inference/reference-images';
import { createRedis } from '@glm-image/shared/redis';
import { TrainingIndex } from '@glm-image/shared/training-index';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { GenerationPresenter } from '../presenters/generation-presenter.ts';
import { Admission } from '../services/admission.ts';
import { Cancellation } from '../services/cancellation.ts';
import { EventHub } from '../services/event-hub.ts';
import { FeedbackService } from '../services/feedback.ts';
import { GenerationReads } from '../services/generation-reads.ts';
import { IdempotencyKeys } from '../services/idempotency.ts';
import { JobEnqueuer } from '../services/job-enqueuer.ts';
import { ReferenceImages } from '../services/reference-images.ts';
import { Renders } from '../services/renders.ts';
import { TrainingExport } from '../services/training-export.ts';
import { WebhookTargetCheck } from '../services/webhook-targets.ts';
import { parseWebhookAllowList, SsrfGuard, type WebhookResolver } from '../webhooks/ssrf-guard.ts';

declare module 'fastify' {
  interface FastifyInstance {
    jobs: JobEnqueuer;
    /** The process's one subscription to generation events, fanned out to its watchers. */
    eventHub: EventHub;
    admission: Admission;
    reads: GenerationReads;
    cancellation: Cancellation;
    renders: Renders;
    presenter: GenerationPresenter;
    feedback: FeedbackService;
    trainingExport: TrainingExport;
  }
}

export interface ServicesOptions {
  /** Resolves webhook host names at submit time; tests answer from a table so no lookup leaves the machine. */
  webhookResolver?: WebhookResolver;
}

async function services(app: FastifyInstance, options: ServicesOptions): Promise<void> {
  const jobs = new JobEnqueuer(app.queues.plan, app.queues.decode);
  const eventHub = new EventHub({
    store: app.store,
    // Waits out a Redis restart (forWorker) rather than failing its subscriptions.
    subscriber: createRedis(app.env.REDIS_URL, { connectionName: 'api:events', forWorker: true }),
    log: app.log,
  });
  // Closing first ends every event stream and Prefer: wait, so in-flight requests finish.
  app.addHook('preClose', () => eventHub.close());
  const reads = new GenerationReads(app.store, eventHub);
  const guard = new SsrfGuard({
    allowList: parseWebhookAllowList(app.env.WEBHOOK_ALLOWLIST),
    ...(options.webhookResolver ? { resolver: options.webhookResolver } : {}),
  });
  const references = new ReferenceImages({
    objects: app.objects,
    reads,
    limits: { ...DEFAULT_REFERENCE_IMAGE_LIMITS, maxBytes: app.env.REFERENCE_IMAGE_MAX_BYTES },
    publicApiUrl: app.env.PUBLIC_API_URL,
  });
  const admission = new Admission({
    lifecycle: app.lifecycle,
    store: app.store,
    limits: app.limits,
    idempotency: new IdempotencyKeys(app.redis, app.keys),
    webhookTargets: new WebhookTargetCheck(guard),
    webhookSecrets: app.env.WEBHOOK_SECRETS,
    jobs,
    references,
  });
  app.decorate('jobs', jobs);
  app.decorate('eventHub', eventHub);
  app.decorate('reads', reads);
  app.decorate('admission', admission);
  app.decorate(
    'cancellation',
    new Cancellation({
      lifecycle: app.lifecycle,
      reads,
      planQueue: app.queues.plan,
      decodeQueue: app.queues.decode,
    }),
  );
  app.decorate(
    'renders',
    new Renders({ admission, reads, jobs, objects: app.objects, limits: app.limits, references }),
  );
  app.decorate(
    'feedback',
    new FeedbackService({
      lifecycle: app.lifecycle,
      reads,
      idempotency: new IdempotencyKeys(app.redis, app.keys),
      metrics: app.metrics,
    }),
  );
  app.decorate('trainingExport', new TrainingExport(new TrainingIndex(app.redis, app.keys), app.objects));
  app.decorate(
    'presenter',
    new GenerationPresenter({
      objects: app.objects,
      redis: app.redis,
      keyPrefix: app.keys.prefix,
      planQueue: app.queues.plan,
      decodeQueue: app.queues.decode,
    }),
  );
}

export default fp(services, { name: 'services', dependencies: ['infrastructure'] });
