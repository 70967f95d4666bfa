/**
 * One decode job, start to finish: render each of the generation's n images from the
 * planner's tokens (and its reference images, for image-to-image), upload them under
 * fixed keys (a retry overwrites, never duplicates), and end the generation succeeded
 * with its outputs.
 *
 * The decoder's model thread renders one image at a time, in the order asked. Every
 * image of the job is asked for at once, so the images render back to back while the
 * ones before them encode and upload; and the worker runs two jobs at a time
 * (DECODER_CONCURRENCY), so the next job's renders wait in the thread's queue while this
 * one uploads and completes. The models never wait for the object store or for Redis.
 * On shutdown a job whose renders have not begun is handed back at once.
 *
 * When the object store is away, the rendered images stay in hand and are stored once it
 * returns (store-when-reachable.ts): an outage costs waiting, never rendering again, up
 * to STORAGE_UNAVAILABLE_AFTER_MS; past that the generation fails as `storage_unavailable`.
 */
import type { Decoder, ReferenceImageInput, RenderRequest, RenderResult } from '@glm-image/inference';
import { InvalidInputError } from '@glm-image/shared/errors';
import { type GenerationOutput, type GenerationRecord, outputSeed } from '@glm-image/shared/generation';
import type { ServiceMetrics } from '@glm-image/shared/metrics';
import { type DecodeJobData, decodeJobDataSchema } from '@glm-image/shared/queues';
import { type ObjectStore, outputKey } from '@glm-image/shared/storage';
import { withSpan } from '@glm-image/shared/tracing';
import { type GenerationJobContext, runGenerationJob } from '@glm-image/worker-runtime';
import type { Job } from 'bullmq';
import { storeWhenReachable } from './store-when-reachable.ts';

export interface DecodeJobDeps extends GenerationJobContext {
  decoder: Decoder;
  objects: ObjectStore;
  metrics: ServiceMetrics;
  /** STORAGE_UNAVAILABLE_AFTER_MS: how long rendered images wait for an unreachable store. */
  storageUnavailableAfterMs: number;
}

export async function runDecodeJob(deps: DecodeJobDeps, job: Job, token?: string): Promise<void> {
  await runGenerationJob(deps, decodeJobDataSchema, job, token, async (stage) => {
    const { record, data, signal, draining, handBack } = stage;
    const { lifecycle, metrics } = deps;
    const id = record.id;
    const { input } = record;
    const total = input.steps * input.n;
    if (record.status !== 'decoding') {
      // A re-render comes straight from `queued`; a plan job may not have moved it yet.
      await lifecycle.startStage(record, 'decoding', { progress: { stage: 'decoding', step: 0, total } });
    }

    // Read once for the whole job; every image's render request carries the same images.
    const references = await loadReferences(deps.objects, record, data);
    const progress = lifecycle.progress(id, 'decoding');
    // Renders still queued when this job fails are dropped, not run for nothing.
    const renders = new AbortController();
    const stopRenders = () => renders.abort();
    signal.addEventListener('abort', stopRenders, { once: true });
    // A worker shutting down hands back a job still waiting behind another one's renders:
    // another decoder can take it now, and this one stops sooner.
    let begun = false;
    const handBackUnlessBegun = () => {
      if (!begun) handBack();
    };
    draining.addEventListener('abort', handBackUnlessBegun, { once: true });
    if (draining.aborted) handBackUnlessBegun();
    const rendering = Array.from({ length: input.n }, (_, index) => {
      const result = deps.decoder.render(renderRequest(record, data, index, references), {
        signal: renders.signal,
        onStart: () => {
          begun = true;
        },
        onStep: (step, _total, denoiserMs) => {
          metrics.countDenoiserSeconds(denoiserMs / 1000);
          progress.report(index * input.steps + step, total, { force: step === input.steps });
        },
      });
      // Awaited in order below; meanwhile a later image may fail, which must not go unhandled.
      result.catch(() => undefined);
      return result;
    });

    const outputs: GenerationOutput[] = [];
    let decodeSeconds = 0;
    let uploadSeconds = 0;
    try {
      for (let index = 0; index < input.n; index += 1) {
        const result = await (rendering[index] as Promise<RenderResult>);
        const seconds = result.durationMs / 1000;
        metrics.observeStage('decode', seconds);
        metrics.observeDecoderStepsPerSecond(result.steps / Math.max(seconds, 1e-6));
        decodeSeconds += seconds;
        if (index === input.n - 1) {
          // A progress write still in flight must not land after the stage has moved on.
          await progress.settle();
          await lifecycle.update(id, { progress: { stage: 'uploading', step: total, total } });
        }
        // The next image renders while this one uploads.
        const stopUpload = metrics.startStageTimer('upload');
        outputs.push(
          await storeWhenReachable(() => upload(deps.objects, record, index, result), {
            giveUpAfterMs: deps.storageUnavailableAfterMs,
            signal,
            onUnreachable: (error, unreachableForMs) => {
              metrics.countUnreachableStoreRound();
              deps.log.warn(
                {
                  generation_id: id,
                  image: index,
                  unreachable_ms: Math.round(unreachableForMs),
                  err: (error as Error).message,
                },
                'object store unreachable: the rendered image is kept and stored when it returns',
              );
            },
          }),
        );
        uploadSeconds += stopUpload();
      }
    } finally {
      signal.removeEventListener('abort', stopRenders);
      draining.removeEventListener('abort', handBackUnlessBegun);
      stopRenders();
    }

    // Timings merge into the record's, so the planner's plan_ms stays.
    await lifecycle.succeed(id, {
      outputs,
      progress: { stage: 'uploading', step: total, total },
      timings: { decode_ms: Math.round(decodeSeconds * 1000), upload_ms: Math.round(uploadSeconds * 1000) },
    });
  });
}

/** What image `index` of the generation renders from (every image reads the same references). */
function renderRequest(
  record: GenerationRecord,
  data: DecodeJobData,
  index: number,
  references: ReferenceImageInput[],
): RenderRequest {
  const { input } = record;
  return {
    prompt: input.prompt,
    main: data.main,
    width: input.width,
    height: input.height,
    // Each image of a generation gets its own noise; image 0 matches a single-image request.
    seed: outputSeed(input.seed, index),
    steps: input.steps,
    guidanceScale: input.guidance_scale,
    format: input.output_format,
    ...(references.length > 0 ? { references } : {}),
  };
}

async function upload(
  objects: ObjectStore,
  record: GenerationRecord,
  index: number,
  result: RenderResult,
): Promise<GenerationOutput> {
  const key = outputKey(record.tenant, record.id, index, result.format);
  const stored = await withSpan('s3.put', { 's3.key': key, 'image.bytes': result.image.byteLength }, () =>
    objects.put(key, result.image, result.contentType),
  );
  return {
    key,
    width: result.width,
    height: result.height,
    format: result.format,
    bytes: stored.bytes,
    sha256: stored.sha256,
  };
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
