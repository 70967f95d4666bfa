/**
 * One plan job, start to finish: semantic tokens from the prompt (and its reference
 * images, read by the image tokenizer), a layout preview for the client, the plan stored
 * for re-rendering, and the decode job that carries it on; or, for a plan-only
 * generation (`decode: false`), its ending.
 */
import type { ImageTokenizer, Planner, PreviewRenderer, TokenGrid } from '@glm-image/inference';
import { UnsupportedFeatureError } from '@glm-image/shared/errors';
import type { GenerationRecord } from '@glm-image/shared/generation';
import type { ServiceMetrics } from '@glm-image/shared/metrics';
import type { DecodeJobData } from '@glm-image/shared/queues';
import { decodeJobId, planJobDataSchema } from '@glm-image/shared/queues';
import { type ObjectStore, previewKey, tokensKey } from '@glm-image/shared/storage';
import { encodeStoredPlan } from '@glm-image/shared/tokens';
import { traceField } from '@glm-image/shared/tracing';
import { type GenerationJobContext, runGenerationJob } from '@glm-image/worker-runtime';
import type { Job, Queue } from 'bullmq';

export interface PlanJobDeps extends GenerationJobContext {
  planner: Planner;
  preview: PreviewRenderer | null;
  /** Null when the pack takes no reference images. */
  imageTokenizer: ImageTokenizer | null;
  objects: ObjectStore;
  metrics: ServiceMetrics;
  decodeQueue: Queue<DecodeJobData>;
}

export async function runPlanJob(deps: PlanJobDeps, job: Job, token?: string): Promise<void> {
  await runGenerationJob(deps, planJobDataSchema, job, token, async ({ record, signal }) => {
    const { lifecycle } = deps;
    const id = record.id;
    if (record.status === 'queued') await lifecycle.startStage(record, 'planning');

    const stopTimer = deps.metrics.startStageTimer('plan');
    const references = await tokenizeReferences(deps, record);
    const progress = lifecycle.progress(id, 'planning');
    const plan = await deps.planner.plan(
      {
        prompt: record.input.prompt,
        width: record.input.width,
        height: record.input.height,
        seed: record.input.seed,
        temperature: record.input.temperature,
        topP: record.input.top_p,
        ...(references.length > 0 ? { references } : {}),
      },
      { signal, onProgress: (generated, total) => progress.report(generated, total) },
    );
    // A progress write still in flight must not land after the stage has moved on.
    await progress.settle();
    const planSeconds = stopTimer();
    deps.metrics.observePlannerTokensPerSecond(plan.tokensPerSecond);

    // Written before the decode job exists: once it does, a fast decoder may move the
    // generation on, and a status transition refused as not forward would drop the patch.
    await lifecycle.update(id, { timings: { plan_ms: Math.round(planSeconds * 1000) } });
    if (deps.preview) {
      const preview = await deps.preview.render(plan.preview);
      const key = previewKey(record.tenant, id);
      await deps.objects.put(key, preview.image, 'image/png');
      await lifecycle.update(id, { preview: { key, width: preview.width, height: preview.height } });
    }
    await deps.objects.put(
      tokensKey(record.tenant, id),
      encodeStoredPlan({ preview: plan.preview, main: plan.main, references }),
      'application/json',
    );

    if (record.input.decode === false) {
      // Plan only: the preview and the stored tokens are the result; a render decodes them.
      const total = plan.generatedTokens;
      await lifecycle.succeedWithPlan(id, { progress: { stage: 'planning', step: total, total } });
      return;
    }

    // The fixed job id makes this add a no-op when a retried plan job gets here twice;
    // the tenant's priority travels on with the generation.
    await deps.decodeQueue.add(
      'decode',
      {
        generationId: id,
        tenant: record.tenant,
        main: plan.main,
        ...(references.length > 0 ? { references } : {}),
        // The decode span continues this plan job's span: one trace per generation.
        ...traceField(),
      },
      { jobId: decodeJobId(id), ...(record.priority ? { priority: record.priority } : {}) },
    );
    await lifecycle.planned(id, {
      progress: { stage: 'decoding', step: 0, total: record.input.steps * record.input.n },
    });
  });
}

/** The generation's reference images as the pack's image tokenizer reads them, for its size. */
async function tokenizeReferences(deps: PlanJobDeps, record: GenerationRecord): Promise<TokenGrid[]> {
  const images = record.input.reference_images ?? [];
  if (images.length === 0) return [];
  const { imageTokenizer } = deps;
  if (!imageTokenizer) {
    throw new UnsupportedFeatureError('reference_images: this model pack does not take reference images');
  }
  const tokens: TokenGrid[] = [];
  for (const image of images) {
    const bytes = await deps.objects.getBuffer(image.key);
    tokens.push(await imageTokenizer.tokenize(bytes, record.input.width, record.input.height));
  }
  return tokens;
}
