import { randomInt } from 'node:crypto';
import { AppError, InvalidInputError, NotFoundError } from '@glm-image/shared/errors';
import type { GenerationInput, GenerationRecord } from '@glm-image/shared/generation';
import { type DecodeJobData, decodeJobId } from '@glm-image/shared/queues';
import { tokensKey } from '@glm-image/shared/storage';
import { SpanKind, traceField, withSpan } from '@glm-image/shared/tracing';
import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { sizeProblem } from '../model-limits.ts';
import type { Principal } from '../plugins/auth.ts';
import type { CreateRenderBody } from '../schemas/generation.ts';
import { DEFAULT_WEBHOOK_EVENTS, type GenerationService, newGenerationId } from './generation-service.ts';

/**
 * Re-renders: a finished generation's semantic tokens (stored by the planner) go
 * straight onto the decode queue with new decoder settings, skipping the planner. The
 * new generation is linked to its source by `input.source_generation_id`.
 */

export class SourceNotRenderableError extends AppError {
  constructor(message: string) {
    super('source_not_renderable', message, 409);
  }
}

const StoredTokens = z.object({
  rows: z.number().int().positive(),
  cols: z.number().int().positive(),
  tokens: z.array(z.number().int()),
});

/** The planner stores `{ rows, cols, tokens }`, possibly inside `main` beside the preview grid. */
function parseTokens(json: unknown): DecodeJobData['main'] | null {
  const direct = StoredTokens.safeParse(json);
  if (direct.success) return direct.data;
  const nested = StoredTokens.safeParse((json as { main?: unknown } | null)?.main);
  return nested.success ? nested.data : null;
}

export class RenderService {
  constructor(
    private readonly ctx: ApiContext,
    private readonly generations: GenerationService,
  ) {}

  async render(principal: Principal, sourceId: string, body: CreateRenderBody): Promise<GenerationRecord> {
    const source = await this.generations.find(principal, sourceId);
    if (source.status !== 'succeeded') {
      throw new SourceNotRenderableError(
        `Generation ${sourceId} is ${source.status}; only succeeded ones render again`,
      );
    }
    const input = this.renderInput(source, body);
    if (input.webhook) await this.ctx.webhookTargets.assertDeliverable(input.webhook.url);
    const main = await this.loadTokens(source);
    const id = newGenerationId();
    return this.generations.createAndEnqueue(principal, id, input, body.metadata, () =>
      withSpan(
        'generation.enqueue',
        { 'generation.id': id, 'generation.tenant': principal.tenant, 'generation.source_id': sourceId },
        () => {
          const job: DecodeJobData = { generationId: id, tenant: principal.tenant, main, ...traceField() };
          return this.ctx.decodeQueue.add('decode', job, {
            jobId: decodeJobId(id),
            priority: principal.priority,
          });
        },
        { kind: SpanKind.PRODUCER },
      ),
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
        `width/height: must keep the source aspect ratio ${source.input.width}:${source.input.height}`,
        'width',
      );
    }
    const problem = sizeProblem(this.ctx.limits, width, height);
    if (problem) throw new InvalidInputError(problem, problem.split(':')[0]);
    const input: GenerationInput = {
      prompt: source.input.prompt,
      width,
      height,
      seed: body.seed ?? randomInt(0, 2 ** 32),
      steps: body.steps ?? source.input.steps,
      guidance_scale: body.guidance_scale ?? source.input.guidance_scale,
      temperature: source.input.temperature,
      top_p: source.input.top_p,
      n: body.n ?? source.input.n,
      output_format: body.output_format ?? source.input.output_format,
      source_generation_id: source.id,
    };
    if (body.webhook) {
      input.webhook = { url: body.webhook.url, events: body.webhook.events ?? DEFAULT_WEBHOOK_EVENTS };
    }
    return input;
  }

  private async loadTokens(source: GenerationRecord): Promise<DecodeJobData['main']> {
    let raw: Buffer;
    try {
      raw = await this.ctx.objects.getBuffer(tokensKey(source.tenant, source.id));
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new SourceNotRenderableError(`Generation ${source.id} has no stored semantic tokens`);
      }
      throw error;
    }
    let tokens: DecodeJobData['main'] | null = null;
    try {
      tokens = parseTokens(JSON.parse(raw.toString('utf8')));
    } catch {
      tokens = null;
    }
    if (!tokens || tokens.tokens.length !== tokens.rows * tokens.cols) {
      throw new SourceNotRenderableError(`Generation ${source.id} has unreadable semantic tokens`);
    }
    return tokens;
  }
}
