/**
 * One decode job, start to finish: render each of the generation's n images from the
 * planner's tokens (and its reference images, for image-to-image), upload them under
 * fixed keys (a retry overwrites, never duplicates), and end the generation succeeded
 * with its outputs.
 */
import type { Decoder, ReferenceImageInput } from '@glm-image/inference';
import { InvalidInputError } from '@glm-image/shared/errors';
import type { GenerationOutput, GenerationRecord } from '@glm-image/shared/generation';
import type { ServiceMetrics } from '@glm-image/shared/metrics';
import { type DecodeJobData, decodeJobDataSchema } from '@glm-image/shared/queues';
import { type ObjectStore, outputKey } from '@glm-image/shared/storage';
import { withSpan } from '@glm-image/shared/tracing';
import { type GenerationJobContext, runGenerationJob } from '@glm-image/worker-runtime';
import type { Job } from 'bullmq';

export interface DecodeJobDeps extends GenerationJobContext {
  decoder: Decoder;
  objects: ObjectStore;
  metrics: ServiceMetrics;
}

export async function runDecodeJob(deps: DecodeJobDeps, job: Job, token?: string): Promise<void> {
  await runGenerationJob(deps, decodeJobDataSchema, job, token, async ({ record, data, signal }) => {
    const { lifecycle } = deps;
    const id = record.id;
    const { input } = record;
    const total = input.steps * input.n;
    if (record.status !== 'decoding') {
      // A re-render comes straight from `queued`; a plan job may not have moved it yet.
      await lifecycle.startStage(record, 'decoding', { progress: { stage: 'decoding', step: 0, total } });
    }

    const references = await loadReferences(deps.objects, record, data);
    const outputs: GenerationOutput[] = [];
    let decodeSeconds = 0;
    let uploadSeconds = 0;
    const progress = lifecycle.progress(id, 'decoding');
    for (let index = 0; index < input.n; index += 1) {
      const stopDecode = deps.metrics.startStageTimer('decode');
      const result = await deps.decoder.render(
        {
          prompt: input.prompt,
          main: data.main,
          width: input.width,
          height: input.height,
          // Each image of a generation gets its own noise; image 0 matches a single-image request.
          seed: (input.seed + index) % 4_294_967_296,
          steps: input.steps,
          guidanceScale: input.guidance_scale,
          format: input.output_format,
          ...(references.length > 0 ? { references } : {}),
        },
        {
          signal,
          onStep: (step) =>
            progress.report(index * input.steps + step, total, { force: step === input.steps }),
        },
      );
      const seconds = stopDecode();
      // A progress write still in flight must not land after the stage has moved on.
      await progress.settle();
      decodeSeconds += seconds;
      deps.metrics.observeDecoderStepsPerSecond(result.steps / Math.max(seconds, 1e-6));

      await lifecycle.update(id, {
        progress: { stage: 'uploading', step: (index + 1) * input.steps, total },
      });
      const stopUpload = deps.metrics.startStageTimer('upload');
      const key = outputKey(record.tenant, id, index, result.format);
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
    await lifecycle.succeed(id, {
      outputs,
      progress: { stage: 'uploading', step: total, total },
      timings: { decode_ms: Math.round(decodeSeconds * 1000), upload_ms: Math.round(uploadSeconds * 1000) },
    });
  });
}

/** The reference images the job's tokens belong to, read back from the object store. */
async function loadReferences(
  objects: ObjectStore,
  record: GenerationRecord,
  data: DecodeJobData,
): Promise<ReferenceImageInput[]> {
  const tokens = data.references ?? [];
  const images = record.input.reference_images ?? [];
  if (tokens.length !== images.length && tokens.length > 0) {
    throw new InvalidInputError(
      'references',
      `the decode job carries ${tokens.length} reference token grids for ${images.length} reference images`,
    );
  }
  return Promise.all(
    tokens.map(async (grid, i) => ({ image: await objects.getBuffer(images[i]!.key), tokens: grid })),
  );
}
