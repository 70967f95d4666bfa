/**
 * One decode job, start to finish: render each of the generation's n images from the
 * planner's tokens, upload them under fixed keys (a retry overwrites, never duplicates),
 * and mark the generation succeeded with its outputs.
 */
import type { Decoder } from '@glm-image/inference';
import type { GenerationOutput } from '@glm-image/shared/generation';
import type { GenerationJobContext } from '@glm-image/shared/generation-job';
import { runGenerationJob } from '@glm-image/shared/generation-job';
import type { DecodeJobData } from '@glm-image/shared/queues';
import { type ObjectStore, outputKey } from '@glm-image/shared/storage';
import { withSpan } from '@glm-image/shared/tracing';
import type { Job } from 'bullmq';

export interface DecodeJobDeps extends GenerationJobContext {
  decoder: Decoder;
  objects: ObjectStore;
}

const PROGRESS_INTERVAL_MS = 250;

export async function runDecodeJob(
  deps: DecodeJobDeps,
  job: Job<DecodeJobData>,
  token?: string,
): Promise<void> {
  await runGenerationJob(deps, job, token, async ({ record, signal }) => {
    const id = record.id;
    const { input } = record;
    const total = input.steps * input.n;
    if (record.status !== 'decoding') {
      await deps.store.transition(id, 'decoding', { progress: { stage: 'decoding', step: 0, total } });
    }

    const outputs: GenerationOutput[] = [];
    let decodeSeconds = 0;
    let uploadSeconds = 0;
    let lastProgress = 0;
    let progressWrite: Promise<unknown> = Promise.resolve();
    for (let index = 0; index < input.n; index += 1) {
      const stopDecode = deps.metrics.startStageTimer('decode');
      const result = await deps.decoder.render(
        {
          prompt: input.prompt,
          main: job.data.main,
          width: input.width,
          height: input.height,
          // Each image of a generation gets its own noise; image 0 matches a single-image request.
          seed: (input.seed + index) % 4_294_967_296,
          steps: input.steps,
          guidanceScale: input.guidance_scale,
          format: input.output_format,
        },
        {
          signal,
          onStep: (step) => {
            const now = Date.now();
            if (now - lastProgress < PROGRESS_INTERVAL_MS && step < input.steps) return;
            lastProgress = now;
            progressWrite = deps.store
              .update(id, { progress: { stage: 'decoding', step: index * input.steps + step, total } })
              .catch(() => undefined);
          },
        },
      );
      const seconds = stopDecode();
      // A progress write still in flight must not land after the stage has moved on.
      await progressWrite;
      decodeSeconds += seconds;
      deps.metrics.observeDecoderStepsPerSecond(result.steps / Math.max(seconds, 1e-6));

      await deps.store.update(id, {
        progress: { stage: 'uploading', step: (index + 1) * input.steps, total },
      });
      const stopUpload = deps.metrics.startStageTimer('upload');
      const key = outputKey(record.tenant, id, index, extensionOf(result.format));
      const stored = await withSpan('s3.put', { 's3.key': key, 'image.bytes': result.image.byteLength }, () =>
        deps.objects.put(key, result.image, result.contentType),
      );
      uploadSeconds += stopUpload();
      outputs.push({
        key,
        width: result.width,
        height: result.height,
        format: result.format,
        bytes: stored.bytes,
        sha256: stored.sha256,
      });
    }

    // Timings merge into the record's, so the planner's plan_ms stays.
    const succeeded = await deps.store.transition(id, 'succeeded', {
      outputs,
      progress: { stage: 'uploading', step: total, total },
      timings: { decode_ms: Math.round(decodeSeconds * 1000), upload_ms: Math.round(uploadSeconds * 1000) },
    });
    if (succeeded) {
      deps.metrics.countGeneration('succeeded');
      if (succeeded.timings.total_ms !== undefined) {
        deps.metrics.observeStage('end_to_end', succeeded.timings.total_ms / 1000);
      }
      await deps.announce(succeeded, 'generation.succeeded');
    }
  });
}

function extensionOf(format: string): string {
  return format === 'jpeg' ? 'jpg' : format;
}
