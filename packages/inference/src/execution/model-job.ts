import type { SerializedError } from '../errors.ts';
import type { ModelPack } from '../model-pack.ts';
import type { ExecutionOptions } from './execution-options.ts';

/** What a job sees while it runs inside the model thread. */
export interface ModelJobContext {
  readonly pack: ModelPack;
  readonly options: ExecutionOptions;
  /**
   * Sends a progress message to the caller. Throttled by the host (see
   * `ModelThreadOptions.progressIntervalMs`); `force` always sends (use it for the last one).
   */
  progress(data: unknown, force?: boolean): void;
  /** True once the caller aborted; the job should stop at its next step boundary. */
  readonly canceled: boolean;
  /** Throws CanceledError when the caller aborted. Call it between model steps. */
  throwIfCanceled(): void;
}

/** One named loop run in the model thread. Input and output must be structured-cloneable. */
// biome-ignore lint/suspicious/noExplicitAny: job input/output types are fixed by each jobs module
export type ModelJob<I = any, O = any> = (input: I, context: ModelJobContext) => Promise<O>;

/** What a jobs module's `createModelJobs` returns: its jobs, and how to free what they hold. */
export interface ModelJobs<J extends Record<string, ModelJob> = Record<string, ModelJob>> {
  jobs: J;
  /**
   * Jobs whose runs start as soon as they arrive, beside any run in progress, instead of
   * waiting their turn. The module makes them share the thread itself: the planner
   * gathers its concurrent `plan` runs into one batched decoding loop.
   */
  concurrent?: ReadonlyArray<keyof J & string>;
  close?(): Promise<void>;
}

/**
 * The one export a jobs module must have. It runs once per thread, inside the thread:
 * the place to open ONNX sessions and load tokenizers. `settings` is what the caller
 * passed as `ModelThreadOptions.settings` (structured-cloneable), e.g. a batch limit.
 */
export type CreateModelJobs<J extends Record<string, ModelJob>, S = undefined> = (
  pack: ModelPack,
  options: ExecutionOptions,
  settings: S,
) => Promise<ModelJobs<J>>;

export type JobInput<J extends ModelJob> = Parameters<J>[0];
export type JobOutput<J extends ModelJob> = Awaited<ReturnType<J>>;

/** Messages between the caller and the model thread. */
export type ToModelThread =
  | { type: 'run'; id: number; job: string; input: unknown; cancelFlag: SharedArrayBuffer }
  | { type: 'close' };

export type FromModelThread =
  | { type: 'ready' }
  | { type: 'load-failed'; error: SerializedError }
  /** The thread took the run off its queue and begins it. */
  | { type: 'started'; id: number }
  | { type: 'progress'; id: number; data: unknown }
  | { type: 'done'; id: number; output: unknown }
  | { type: 'failed'; id: number; error: SerializedError }
  | { type: 'closed' };

export interface ModelThreadData {
  jobsModule: string;
  pack: ModelPack;
  options: ExecutionOptions;
  progressIntervalMs: number;
  settings: unknown;
}
