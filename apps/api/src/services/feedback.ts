/**
 * People's feedback on a generation: checked against what the generation is (only a
 * succeeded one takes feedback; a re-render's plan belongs to its source; a plan-only
 * generation has no images to rate), made idempotent by the Idempotency-Key like a
 * submit (same key and body: the first feedback; another body: 409), then stored on the
 * record through the lifecycle, which indexes it for each stage's training export.
 */
import { AppError, IdempotencyConflictError, InvalidInputError } from '@glm-image/shared/errors';
import type { GenerationRecord } from '@glm-image/shared/generation';
import type { GenerationLifecycle } from '@glm-image/shared/lifecycle';
import { type Feedback, isAbout, type QualityStage } from '@glm-image/shared/quality';
import { ulid } from 'ulid';
import type { ApiMetrics } from '../metrics.ts';
import type { Principal } from '../plugins/auth.ts';
import type { CreateFeedbackBody } from '../schemas/feedback.ts';
import type { GenerationReads } from './generation-reads.ts';
import { hashBody, IdempotencyKeys } from './idempotency.ts';

/** Feedback is about a finished result: a generation still running or one that failed has none to judge. */
export class NotRateableError extends AppError {
  constructor(message: string) {
    super('not_rateable', message);
  }
}

export class FeedbackLimitError extends AppError {
  constructor(max: number) {
    super('feedback_limit_reached', `This generation already holds ${max} pieces of feedback`);
  }
}

export interface FeedbackDeps {
  lifecycle: GenerationLifecycle;
  reads: GenerationReads;
  idempotency: IdempotencyKeys;
  metrics: ApiMetrics;
}

export interface GivenFeedback {
  feedback: Feedback;
  record: GenerationRecord;
  /** False when an Idempotency-Key replay answered with the first request's feedback. */
  created: boolean;
}

/** How long a replay waits for the first request under its key to store its feedback. */
const REPLAY_WAIT_MS = 3000;

export class FeedbackService {
  constructor(private readonly deps: FeedbackDeps) {}

  async give(
    principal: Principal,
    id: string,
    body: CreateFeedbackBody,
    idempotencyKey?: string,
  ): Promise<GivenFeedback> {
    const record = await this.deps.reads.find(principal, id);
    const feedback: Feedback = {
      id: `fb_${ulid().toLowerCase()}`,
      created_at: new Date().toISOString(),
      stage: body.stage,
      labels: body.labels ?? [],
    };
    if (body.rating !== undefined) feedback.rating = body.rating;
    if (body.comment !== undefined) feedback.comment = body.comment;
    if (body.preferred_output !== undefined) feedback.preferred_output = body.preferred_output;
    checkFeedback(record, feedback);

    if (idempotencyKey === undefined) return this.store(record, feedback);
    const key = IdempotencyKeys.validateKey(idempotencyKey);
    // Keys of feedback live apart from keys of submits; the generation is part of what is
    // hashed, and the claim holds the feedback's id where a submit's holds a generation's.
    const scope = `${principal.tenant}:feedback`;
    const claim = await this.deps.idempotency.claim(
      scope,
      key,
      hashBody({ generation: id, ...body }),
      feedback.id,
    );
    if (claim.kind === 'replay') return this.replay(id, claim.generationId);
    try {
      return await this.store(record, feedback);
    } catch (error) {
      await this.deps.idempotency.release(scope, key, feedback.id).catch(() => undefined);
      throw error;
    }
  }

  private async store(record: GenerationRecord, feedback: Feedback): Promise<GivenFeedback> {
    const stages = feedbackStages(feedback);
    const result = await this.deps.lifecycle.addFeedback(record.id, feedback, {
      stages,
      ratesImages: feedback.rating !== undefined && isAbout(feedback, 'decode'),
    });
    if (!result) throw new NotRateableError(`Generation ${record.id} has expired`);
    if (result.outcome === 'full') throw new FeedbackLimitError(result.record.feedback?.length ?? 0);
    if (result.outcome === 'not_succeeded') throw notRateable(result.record);
    for (const stage of stages) this.deps.metrics.countFeedback(stage, feedback.rating);
    return { feedback, record: result.record, created: true };
  }

  /** The feedback a first request under the same key stored (it may still be storing it). */
  private async replay(id: string, feedbackId: string): Promise<GivenFeedback> {
    const deadline = Date.now() + REPLAY_WAIT_MS;
    for (;;) {
      const record = await this.deps.lifecycle.store.get(id);
      const feedback = record?.feedback?.find((entry) => entry.id === feedbackId);
      if (record && feedback) return { feedback, record, created: false };
      if (Date.now() > deadline) {
        throw new IdempotencyConflictError(
          'A request with this Idempotency-Key is still in progress; retry shortly',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function notRateable(record: GenerationRecord): NotRateableError {
  return new NotRateableError(
    `Generation ${record.id} is ${record.status}; feedback is taken once a generation has succeeded`,
  );
}

/** What the feedback may say about this generation; InvalidInputError naming the field otherwise. */
function checkFeedback(record: GenerationRecord, feedback: Feedback): void {
  if (record.status !== 'succeeded') throw notRateable(record);
  const { rating, comment, preferred_output: preferred } = feedback;
  if (
    rating === undefined &&
    comment === undefined &&
    preferred === undefined &&
    feedback.labels.length === 0
  ) {
    throw new InvalidInputError('body', 'give at least one of rating, labels, comment, preferred_output');
  }
  const source = record.input.source_generation_id;
  if (source !== undefined && isAbout(feedback, 'plan')) {
    throw new InvalidInputError(
      'stage',
      `a re-render's plan is its source's: give plan feedback on ${source}, or stage "decode" here`,
    );
  }
  if (record.outputs.length === 0 && isAbout(feedback, 'decode')) {
    throw new InvalidInputError('stage', 'this generation has no images (plan only): use stage "plan"');
  }
  if (preferred !== undefined) {
    if (!isAbout(feedback, 'decode')) {
      throw new InvalidInputError(
        'preferred_output',
        'a preferred image is about the images: use stage "decode" or "both"',
      );
    }
    if (record.outputs.length < 2) {
      throw new InvalidInputError('preferred_output', 'needs a generation of several images');
    }
    if (preferred >= record.outputs.length) {
      throw new InvalidInputError('preferred_output', `must be below ${record.outputs.length}`);
    }
  }
}

/** The stages a piece of feedback is indexed under. */
export function feedbackStages(feedback: Pick<Feedback, 'stage'>): QualityStage[] {
  return (['plan', 'decode'] as const).filter((stage) => isAbout(feedback, stage));
}
