/**
 * Re-renders: a finished generation's stored plan (written by the planner) goes straight
 * onto the decode queue with new decoder settings, skipping the planner. The new
 * generation is linked to its source by `input.source_generation_id`. A plan-only
 * generation (`decode: false`) is decoded this way, as often as wanted. An image-to-image
 * source's reference images are copied to the new generation, whose decoder reads them
 * again and whose retention then covers them.
 */
import { AppError, InvalidInputError, NotFoundError } from '@glm-image/shared/errors';
import type { GenerationInput, GenerationRecord } from '@glm-image/shared/generation';
import type { ObjectStore } from '@glm-image/shared/storage';
import { tokensKey } from '@glm-image/shared/storage';
import { parseStoredPlan, type StoredPlan } from '@glm-image/shared/tokens';
import { DEFAULT_WEBHOOK_EVENTS } from '@glm-image/shared/webhooks/notifier';
import { assertSizeServed, type ModelLimits } from '../model-limits.ts';
import type { Principal } from '../plugins/auth.ts';
import type { CreateRenderBody } from '../schemas/generation.ts';
import { type Admission, newGenerationId, randomSeed } from './admission.ts';
import type { GenerationReads } from './generation-reads.ts';
import type { JobEnqueuer } from './job-enqueuer.ts';
import type { ReferenceImages } from './reference-images.ts';

export class SourceNotRenderableError extends AppError {
  constructor(message: string) {
    super('source_not_renderable', message);
  }
}

export interface RendersDeps {
  admission: Admission;
  reads: GenerationReads;
  jobs: JobEnqueuer;
  objects: ObjectStore;
  limits: ModelLimits;
  references: ReferenceImages;
}

export class Renders {
  constructor(private readonly deps: RendersDeps) {}

  async render(principal: Principal, sourceId: string, body: CreateRenderBody): Promise<GenerationRecord> {
    const source = await this.deps.reads.find(principal, sourceId);
    if (source.status !== 'succeeded') {
      throw new SourceNotRenderableError(
        `Generation ${sourceId} is ${source.status}; only succeeded ones render again`,
      );
    }
    const input = this.renderInput(source, body);
    await this.deps.admission.checkWebhook(principal, input);
    const plan = await this.loadPlan(source);
    const id = newGenerationId();
    const references = source.input.reference_images;
    if (references?.length) {
      input.reference_images = await this.deps.references
        .copy(references, { tenant: principal.tenant, id })
        .catch((error: unknown) => {
          if (error instanceof NotFoundError) {
            throw new SourceNotRenderableError(`Generation ${source.id} no longer has its reference images`);
          }
          throw error;
        });
    }
    return this.deps.admission.admit(principal, id, input, body.metadata, (record) =>
      this.deps.jobs.enqueueDecode(record, plan.main, plan.references),
    );
  }

  private renderInput(source: GenerationRecord, body: CreateRenderBody): GenerationInput {
    const width =
      body.width ??
      (body.height
        ? Math.round((body.height * source.input.width) / source.input.height)
        : source.input.width);
    const height = body.height ?? Math.round((width * source.input.height) / source.input.width);
    if (width * source.input.height !== height * source.input.width) {
      throw new InvalidInputError(
        'width/height',
        `must keep the source aspect ratio ${source.input.width}:${source.input.height}`,
      );
    }
    assertSizeServed(this.deps.limits, width, height);
    const input: GenerationInput = {
      prompt: source.input.prompt,
      width,
      height,
      seed: body.seed ?? randomSeed(),
      steps: body.steps ?? source.input.steps,
      guidance_scale: body.guidance_scale ?? source.input.guidance_scale,
      temperature: source.input.temperature,
      top_p: source.input.top_p,
      n: body.n ?? source.input.n,
      output_format: body.output_format ?? source.input.output_format,
      source_generation_id: source.id,
      decode: true,
    };
    if (body.webhook) {
      input.webhook = { url: body.webhook.url, events: body.webhook.events ?? [...DEFAULT_WEBHOOK_EVENTS] };
    }
    return input;
  }

  private async loadPlan(source: GenerationRecord): Promise<StoredPlan> {
    let raw: Buffer;
    try {
      raw = await this.deps.objects.getBuffer(tokensKey(source.tenant, source.id));
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new SourceNotRenderableError(`Generation ${source.id} has no stored semantic tokens`);
      }
      throw error;
    }
    const plan = parseStoredPlan(raw);
    if (!plan) throw new SourceNotRenderableError(`Generation ${source.id} has unreadable semantic tokens`);
    return plan;
  }
}
