/**
 * One plan job, start to finish: semantic tokens from the prompt, a layout preview for
 * the client, the tokens kept for re-rendering, and the decode job that carries them on.
 */
import type { Planner, PreviewRenderer } from '@glm-image/inference';
import type { GenerationJobContext } from '@glm-image/shared/generation-job';
import { runGenerationJob } from '@glm-image/shared/generation-job';
import type { DecodeJobData, PlanJobData } from '@glm-image/shared/queues';
import { decodeJobId } from '@glm-image/shared/queues';
import { type ObjectStore, previewKey, tokensKey } from '@glm-image/shared/storage';
import { traceField } from '@glm-image/shared/tracing';
import type { Job, Queue } from 'bullmq';

export interface PlanJobDeps extends GenerationJobContext {
  planner: Planner;
  preview: PreviewRenderer | null;
  objects: ObjectStore;
  decodeQueue: Queue<DecodeJobData>;
}

/** Progress is written to Redis at most this often; SSE clients see it through the events stream. */
const PROGRESS_INTERVAL_MS = 250;

export async function runPlanJob(deps: PlanJobDeps, job: Job<PlanJobData>, token?: string): Promise<void> {
  await runGenerationJob(deps, job, token, async ({ record, signal }) => {
    const id = record.id;
    if (record.status === 'queued') {
      // The store stamps queued_ms as it leaves `queued`; the metric reads the same figure.
      const planning = await deps.store.transition(id, 'planning', { progress: { stage: 'planning' } });
      const queuedMs = planning?.timings.queued_ms;
      if (queuedMs !== undefined) deps.metrics.observeStage('queue_wait', queuedMs / 1000);
    }

    const stopTimer = deps.metrics.startStageTimer('plan');
    let lastProgress = 0;
    let progressWrite: Promise<unknown> = Promise.resolve();
    const plan = await deps.planner.plan(
      {
        prompt: record.input.prompt,
        width: record.input.width,
        height: record.input.height,
        seed: record.input.seed,
        temperature: record.input.temperature,
        topP: record.input.top_p,
      },
      {
        signal,
        onProgress: (generated, total) => {
          const now = Date.now();
          if (now - lastProgress < PROGRESS_INTERVAL_MS) return;
          lastProgress = now;
          progressWrite = deps.store
            .update(id, { progress: { stage: 'planning', step: generated, total } })
            .catch(() => undefined);
        },
      },
    );
    // A progress write still in flight must not land after the stage has moved on.
    await progressWrite;
    const planSeconds = stopTimer();
    deps.metrics.observePlannerTokensPerSecond(plan.tokensPerSecond);

    // Written before the decode job exists: once it does, a fast decoder may move the
    // generation on, and a status transition refused as not forward would drop the patch.
    await deps.store.update(id, { timings: { plan_ms: Math.round(planSeconds * 1000) } });
    if (deps.preview) {
      const preview = await deps.preview.render(plan.preview);
      const key = previewKey(record.tenant, id);
      await deps.objects.put(key, preview.image, 'image/png');
      await deps.store.update(id, { preview: { key, width: preview.width, height: preview.height } });
    }
    await deps.objects.put(
      tokensKey(record.tenant, id),
      Buffer.from(JSON.stringify({ preview: plan.preview, main: plan.main })),
      'application/json',
    );

    // The fixed job id makes this add a no-op when a retried plan job gets here twice.
    await deps.decodeQueue.add(
      'decode',
      {
        generationId: id,
        tenant: record.tenant,
        main: plan.main,
        // The decode span continues this plan job's span: one trace per generation.
        ...traceField(),
      },
      { jobId: decodeJobId(id), ...(job.opts.priority ? { priority: job.opts.priority } : {}) },
    );
    // A fast decoder may already have moved the generation on; the event is announced
    // either way (the notifier delivers each event once).
    const planned =
      (await deps.store.transition(id, 'decoding', {
        progress: { stage: 'decoding', step: 0, total: record.input.steps * record.input.n },
      })) ?? (await deps.store.get(id));
    if (planned && planned.status !== 'failed' && planned.status !== 'canceled') {
      await deps.announce(planned, 'generation.planned');
    }
  });
}
