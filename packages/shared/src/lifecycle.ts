/**
 * The one place a generation changes. Every call applies together what its change
 * implies, so no caller has to remember the side effects:
 *   - the record transition and its event (one Lua script in the store, which also keeps
 *     the tenant's unfinished set and the awaiting-enqueue index in step);
 *   - the metric, counted exactly once per ending: only the call whose transition the
 *     store accepted counts it, and the store accepts one terminal move per record;
 *   - the webhook event, enqueued for every ending wherever it was decided (API, planner,
 *     decoder, stall handling, reconciler); the notifier's job ids make it once per event;
 *   - for a success, the evaluate job that scores each stage off the request path: the
 *     generation is `succeeded` before it is scored, and scores are written later as
 *     annotations (`recordQuality`) that never change its status.
 *
 * A webhook or evaluate job that cannot be enqueued never undoes the change: it is
 * logged, and a job that meets the generation over already announces its ending again
 * (`reannounce`).
 */
import type {
  GenerationError,
  GenerationRecord,
  GenerationStatus,
  ProgressStage,
  WebhookEvent,
} from './generation.ts';
import { isTerminal } from './generation.ts';
import type { AnnotationOutcome, GenerationPatch, GenerationStore } from './generation-store.ts';
import type { Stage, TerminalStatus } from './metrics.ts';
import type { Feedback, QualityStage, StageQuality } from './quality.ts';

/** What the lifecycle records; ServiceMetrics fits. */
export interface LifecycleMetrics {
  countGeneration(status: TerminalStatus, code?: string): void;
  observeStage(stage: Stage, seconds: number): void;
}

/** What the lifecycle announces through; WebhookNotifier fits. */
export interface LifecycleNotifier {
  notify(record: GenerationRecord, event: WebhookEvent): Promise<void>;
}

/** What a success is handed to for scoring; EvaluationRequests fits. */
export interface LifecycleEvaluations {
  request(record: GenerationRecord): Promise<void>;
}

export interface LifecycleLogger {
  error(obj: object, msg: string): void;
}

export interface GenerationLifecycleOptions {
  store: GenerationStore;
  metrics: LifecycleMetrics;
  /** Null where this process sends no webhooks. */
  webhooks: LifecycleNotifier | null;
  /** Where successes are sent to be scored; absent or null where nothing scores them. */
  evaluations?: LifecycleEvaluations | null;
  log: LifecycleLogger;
  /** Least time between two progress writes of one stage. Default: 250 ms. */
  progressIntervalMs?: number;
  /** The clock progress throttling reads; tests inject their own. */
  now?: () => number;
}

/** Progress of one running stage: throttled writes, and a way to wait for the last one. */
export interface ProgressReporter {
  /** Records step of total; skipped when the last write was too recent, unless `force`. */
  report(step: number, total: number, options?: { force?: boolean }): void;
  /** Resolves once every write made so far has landed: call before the stage moves on. */
  settle(): Promise<void>;
}

/** The webhook event of each ending. */
const ENDING_EVENT: Record<TerminalStatus, WebhookEvent> = {
  succeeded: 'generation.succeeded',
  failed: 'generation.failed',
  canceled: 'generation.canceled',
};

export const DEFAULT_PROGRESS_INTERVAL_MS = 250;

export class GenerationLifecycle {
  readonly store: GenerationStore;
  private readonly metrics: LifecycleMetrics;
  private readonly webhooks: LifecycleNotifier | null;
  private readonly evaluations: LifecycleEvaluations | null;
  private readonly log: LifecycleLogger;
  private readonly progressIntervalMs: number;
  private readonly now: () => number;

  constructor(options: GenerationLifecycleOptions) {
    this.store = options.store;
    this.metrics = options.metrics;
    this.webhooks = options.webhooks;
    this.evaluations = options.evaluations ?? null;
    this.log = options.log;
    this.progressIntervalMs = options.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
    this.now = options.now ?? Date.now;
  }

  /**
   * Stores a new queued generation, counted against its tenant's cap in the same script
   * (TenantAtCapacityError when full). Its first job must be enqueued next, then
   * `enqueued` called; until then the reconciler considers it possibly stranded.
   */
  async create(record: GenerationRecord, maxUnfinished: number): Promise<void> {
    await this.store.create(record, maxUnfinished);
  }

  /** The generation's first job is on its queue. */
  async enqueued(id: string): Promise<void> {
    await this.store.confirmEnqueued(id);
  }

  /**
   * A worker starts `stage` of the generation it read as `current`. Leaving `queued`,
   * the store stamps queued_ms and the queue wait is observed (once: a second worker's
   * move out of `queued` is refused). Null when refused (already further along, or over).
   */
  async startStage(
    current: GenerationRecord,
    stage: 'planning' | 'decoding',
    patch: GenerationPatch = {},
  ): Promise<GenerationRecord | null> {
    const moved = await this.store.transition(current.id, stage, { progress: { stage }, ...patch });
    const queuedMs = moved?.timings.queued_ms;
    if (current.status === 'queued' && queuedMs !== undefined) {
      this.metrics.observeStage('queue_wait', queuedMs / 1000);
    }
    return moved;
  }

  /** Merges fields that do not change the status (preview, timings). Null once the generation is over. */
  update(id: string, patch: GenerationPatch): Promise<GenerationRecord | null> {
    return this.store.update(id, patch);
  }

  /** Throttled progress of one stage of one generation; progress never fails the work. */
  progress(id: string, stage: ProgressStage): ProgressReporter {
    let last = Number.NEGATIVE_INFINITY;
    let pending: Promise<unknown> = Promise.resolve();
    return {
      report: (step, total, options = {}) => {
        const now = this.now();
        if (!options.force && now - last < this.progressIntervalMs) return;
        last = now;
        // Chained, so writes land in the order they were made.
        pending = pending.then(() =>
          this.store.update(id, { progress: { stage, step, total } }).catch(() => undefined),
        );
      },
      settle: async () => {
        await pending;
      },
    };
  }

  /**
   * The plan is done and its decode job enqueued: the generation moves to `decoding`
   * and `generation.planned` goes out. A fast decoder may have moved it on already; the
   * event is announced either way, unless the generation ended without decoding.
   */
  async planned(id: string, patch: GenerationPatch = {}): Promise<GenerationRecord | null> {
    const record = (await this.store.transition(id, 'decoding', { ...patch })) ?? (await this.store.get(id));
    if (record && record.status !== 'failed' && record.status !== 'canceled') {
      await this.announce(record, 'generation.planned');
    }
    return record;
  }

  /** The generation succeeded with its outputs. Null when it had already ended. */
  succeed(id: string, patch: GenerationPatch): Promise<GenerationRecord | null> {
    return this.end(id, 'succeeded', patch);
  }

  /**
   * A plan-only generation (`decode: false`) is done once planned: it ends succeeded with
   * its preview and stored tokens, and no outputs. `generation.planned` goes out first,
   * then everything any success brings (count, end-to-end time, `generation.succeeded`,
   * its evaluate job: the plan is scored, there are no images to score). Null when it
   * had already ended.
   */
  succeedWithPlan(id: string, patch: GenerationPatch): Promise<GenerationRecord | null> {
    return this.end(id, 'succeeded', patch, 'generation.planned');
  }

  /** The generation failed for good with `error`. Null when it had already ended. */
  fail(id: string, error: GenerationError): Promise<GenerationRecord | null> {
    return this.end(id, 'failed', { error });
  }

  /** A worker stopped a generation whose cancel was requested. Null when it had already ended. */
  finishCanceled(id: string): Promise<GenerationRecord | null> {
    return this.end(id, 'canceled', {});
  }

  /**
   * A client asks to cancel. A queued generation ends here, canceled; a running one is
   * flagged and its worker ends it within one model step; a finished one is unchanged.
   * Null when the id is unknown.
   */
  async requestCancel(id: string): Promise<GenerationRecord | null> {
    const result = await this.store.requestCancel(id);
    if (!result) return null;
    if (result.outcome === 'canceled') await this.ended(result.record);
    return result.record;
  }

  /**
   * The generation's ending, announced again: for a job that finds its generation
   * already over, in case the process that ended it died before announcing. Webhooks
   * only (the notifier delivers each event once); the metric was counted by that ending.
   */
  async reannounce(record: GenerationRecord): Promise<void> {
    if (isTerminal(record.status)) {
      await this.announce(record, ENDING_EVENT[record.status as TerminalStatus]);
    }
    if (record.status === 'succeeded') await this.evaluate(record);
  }

  /**
   * The scores of one stage of a succeeded generation (the evaluator's). An annotation:
   * the status, timings and event stream stay as they are. Null when the id is unknown.
   */
  async recordQuality(
    id: string,
    stage: QualityStage,
    quality: StageQuality,
  ): Promise<{ outcome: AnnotationOutcome; record: GenerationRecord } | null> {
    return this.store.recordQuality(id, stage, quality);
  }

  /**
   * A person's feedback on a succeeded generation, indexed for the training export of
   * the stages it is about; `ratesImages` when it rates the decoder's images (preference
   * pairs between renders of one plan come from those). Null when the id is unknown.
   */
  async addFeedback(
    id: string,
    feedback: Feedback,
    options: { stages: readonly QualityStage[]; ratesImages: boolean },
  ): Promise<{ outcome: AnnotationOutcome; record: GenerationRecord } | null> {
    return this.store.addFeedback(id, feedback, options);
  }

  /** An ending, with `announceFirst` sent before the ending's own event when given. */
  private async end(
    id: string,
    status: TerminalStatus,
    patch: GenerationPatch,
    announceFirst?: WebhookEvent,
  ): Promise<GenerationRecord | null> {
    const record = await this.store.transition(id, status satisfies GenerationStatus, patch);
    if (!record) return null;
    if (announceFirst) await this.announce(record, announceFirst);
    await this.ended(record);
    return record;
  }

  /**
   * The side effects of an ending the store accepted: the one count, the webhook, and for
   * a success its end-to-end time and its scoring. Every success comes through here.
   */
  private async ended(record: GenerationRecord): Promise<void> {
    const status = record.status as TerminalStatus;
    this.metrics.countGeneration(status, status === 'failed' ? record.error?.code : undefined);
    if (status === 'succeeded' && record.timings.total_ms !== undefined) {
      this.metrics.observeStage('end_to_end', record.timings.total_ms / 1000);
    }
    await this.announce(record, ENDING_EVENT[status]);
    if (status === 'succeeded') await this.evaluate(record);
  }

  private async evaluate(record: GenerationRecord): Promise<void> {
    if (!this.evaluations) return;
    try {
      await this.evaluations.request(record);
    } catch (error) {
      this.log.error(
        { generation_id: record.id, err: (error as Error).message },
        'evaluate job enqueue failed',
      );
    }
  }

  private async announce(record: GenerationRecord, event: WebhookEvent): Promise<void> {
    if (!this.webhooks) return;
    try {
      await this.webhooks.notify(record, event);
    } catch (error) {
      this.log.error(
        { generation_id: record.id, event, err: (error as Error).message },
        'webhook enqueue failed',
      );
    }
  }
}
