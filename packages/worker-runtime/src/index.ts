/**
 * @glm-image/worker-runtime: what every worker process runs around its own job function:
 * the runtime (connections, lifecycle, cleanups), the queue consumers (BullMQ's own loop,
 * or manual fetching for a batch of jobs) with their graceful shutdown and health port,
 * and the job wrapper (payload checks, cancellation, retry classification, stall handling).
 */
export { consumeQueueInBatches } from './batch-consumer.ts';
export { type CancellationWatch, type StopReason, watchCancellation } from './cancellation-watch.ts';
export { executionOptionsFromEnv } from './execution.ts';
export {
  failGenerationIfJobIsOver,
  type GenerationJobContext,
  type JobLogger,
  type RunningJob,
  runGenerationJob,
  type StageWork,
} from './generation-job.ts';
export { classifyFailure, type FailureKind, publicMessage } from './job-failures.ts';
export {
  type ConsumeOptions,
  consumeQueue,
  MAX_STALLED_COUNT,
  type StageWorker,
  stopOnSignals,
} from './queue-consumer.ts';
export { type HealthReport, startWorkerHttpServer, type WorkerHttpServer } from './worker-http.ts';
export { createWorkerRuntime, type WorkerRuntime } from './worker-runtime.ts';
