/**
 * Runs model loops in a worker thread. onnxruntime's `InferenceSession.run` blocks the
 * thread it runs on for the whole call, so a planner or decoder loop on the main thread
 * would freeze a worker process (no BullMQ lock renewals, no health checks). A
 * ModelThread owns one `worker_threads` Worker that loads a *jobs module* and then runs
 * named jobs there, streaming progress back and stopping between steps on cancellation.
 *
 * A jobs module exports `createModelJobs(pack, options)`, called once inside the thread:
 *
 *   // my-jobs.ts
 *   import type { CreateModelJobs, ModelJob } from '../execution/model-job.ts';
 *   import { openSession } from '../execution/execution-options.ts';
 *   export type MyJobs = { count: ModelJob<{ steps: number }, number> };
 *   export const createModelJobs: CreateModelJobs<MyJobs> = async (pack, options) => {
 *     const session = await openSession(pack.files.planner, options);
 *     return {
 *       jobs: {
 *         count: async ({ steps }, ctx) => {
 *           for (let i = 0; i < steps; i++) {
 *             ctx.throwIfCanceled();            // between model steps
 *             // await session.run(...)
 *             ctx.progress({ step: i + 1, total: steps }, i + 1 === steps);
 *           }
 *           return steps;
 *         },
 *       },
 *       close: () => session.release(),
 *     };
 *   };
 *
 *   // on the main thread
 *   import type { MyJobs } from './my-jobs.ts';
 *   const thread = await ModelThread.start<MyJobs>(new URL('./my-jobs.ts', import.meta.url), pack, options);
 *   const n = await thread.run('count', { steps: 10 }, { signal, onProgress: (p) => console.log(p) });
 *   await thread.close();
 *
 * A job rejects with the error class it threw in the thread (ModelPackError,
 * InvalidInputError, CanceledError, ModelError); anything else arrives
 * as a ModelError. Jobs on one thread run one at a time, in call order, except those the
 * module lists as `concurrent`, which start on arrival and share the thread as the module
 * arranges (the planner batches them); a job still queued behind another rejects at once
 * when its signal aborts.
 * The thread loads TypeScript by registering tsx itself (model-thread-entry.mjs): on
 * Node 20, `execArgv: ['--import', 'tsx']` does not reach a worker's module loading.
 * This works from any working directory, under `node --import tsx` and under vitest.
 */
import { Worker } from 'node:worker_threads';
import { CanceledError, deserializeError, ModelError } from '../errors.ts';
import type { ModelPack } from '../model-pack.ts';
import { DEFAULT_EXECUTION_OPTIONS, type ExecutionOptions } from './execution-options.ts';
import type {
  FromModelThread,
  JobInput,
  JobOutput,
  ModelJob,
  ModelThreadData,
  ToModelThread,
} from './model-job.ts';

export interface ModelThreadOptions {
  /** Least time between two progress messages of one job, in ms; default 100. Forced messages always pass. */
  progressIntervalMs?: number;
  /** Passed to the jobs module's `createModelJobs` as its third argument (structured-cloneable). */
  settings?: unknown;
}

export interface RunOptions<P = unknown> {
  /**
   * Aborting stops the job at its next step boundary; the run rejects with CanceledError.
   * A run still waiting behind another job rejects at once.
   */
  signal?: AbortSignal;
  /** Called when the thread begins the job, after the jobs queued before it. */
  onStart?: () => void;
  onProgress?: (data: P) => void;
}

interface PendingRun {
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
  onStart?: () => void;
  onProgress?: (data: unknown) => void;
  started: boolean;
  detach: () => void;
}

const WORKER_ENTRY = new URL('./model-thread-entry.mjs', import.meta.url);

export class ModelThread<J extends Record<string, ModelJob>> {
  private readonly pending = new Map<number, PendingRun>();
  private nextId = 1;
  private closing: Promise<void> | null = null;
  private exited = false;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (message: FromModelThread) => this.onMessage(message));
    worker.on('error', (error) => this.failAll(new ModelError(`model thread crashed: ${error.message}`)));
    worker.on('exit', (code) => {
      this.exited = true;
      this.failAll(new ModelError(`model thread exited (code ${code})`));
    });
  }

  /** Starts a thread, loads `jobsModule` in it and resolves once its `createModelJobs` has finished. */
  static async start<J extends Record<string, ModelJob>>(
    jobsModule: URL,
    pack: ModelPack,
    options: ExecutionOptions = DEFAULT_EXECUTION_OPTIONS,
    threadOptions: ModelThreadOptions = {},
  ): Promise<ModelThread<J>> {
    const workerData: ModelThreadData = {
      jobsModule: jobsModule.href,
      pack,
      options,
      progressIntervalMs: threadOptions.progressIntervalMs ?? 100,
      settings: threadOptions.settings,
    };
    const worker = new Worker(WORKER_ENTRY, { workerData });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (message: FromModelThread) => {
        if (message.type === 'ready') done(null);
        else if (message.type === 'load-failed') done(deserializeError(message.error));
      };
      const onError = (error: Error) =>
        done(new ModelError(`model thread failed to start: ${error.message}`));
      const onExit = (code: number) => done(new ModelError(`model thread exited during load (code ${code})`));
      const done = (error: Error | null) => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        if (error) {
          void worker.terminate();
          reject(error);
        } else resolve();
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
    return new ModelThread<J>(worker);
  }

  /** Runs job `name` in the thread. */
  run<K extends keyof J & string, P = unknown>(
    name: K,
    input: JobInput<J[K]>,
    options: RunOptions<P> = {},
  ): Promise<JobOutput<J[K]>> {
    const { signal, onStart, onProgress } = options;
    if (this.closing || this.exited) return Promise.reject(new ModelError('model thread is closed'));
    if (signal?.aborted) return Promise.reject(new CanceledError());
    const id = this.nextId++;
    const cancelFlag = new SharedArrayBuffer(4);
    const onAbort = () => {
      Atomics.store(new Int32Array(cancelFlag), 0, 1);
      // A job still queued behind another one need not wait for it: the thread will see
      // the flag and skip it, and nobody listens for its answer any more.
      const run = this.pending.get(id);
      if (run && !run.started) this.settle(id, run, () => run.reject(new CanceledError()));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        resolve: resolve as (output: unknown) => void,
        reject,
        onStart,
        onProgress: onProgress as ((data: unknown) => void) | undefined,
        started: false,
        detach: () => signal?.removeEventListener('abort', onAbort),
      });
      this.post({ type: 'run', id, job: name, input, cancelFlag });
    });
  }

  /** Lets running jobs finish, releases the jobs module's resources, ends the thread. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.exited) return;
      const closed = new Promise<void>((resolve) => {
        this.worker.on('message', (message: FromModelThread) => {
          if (message.type === 'closed') resolve();
        });
        this.worker.once('exit', () => resolve());
      });
      try {
        this.post({ type: 'close' });
        await closed;
      } finally {
        try {
          await this.worker.terminate();
        } catch {
          // already gone
        }
      }
    })();
    return this.closing;
  }

  private post(message: ToModelThread): void {
    this.worker.postMessage(message);
  }

  private onMessage(message: FromModelThread): void {
    if (
      message.type !== 'started' &&
      message.type !== 'progress' &&
      message.type !== 'done' &&
      message.type !== 'failed'
    )
      return;
    const run = this.pending.get(message.id);
    if (!run) return;
    if (message.type === 'started' || message.type === 'progress') {
      if (message.type === 'started') run.started = true;
      try {
        if (message.type === 'started') run.onStart?.();
        else run.onProgress?.(message.data);
      } catch {
        // a faulty listener must not break the run
      }
      return;
    }
    this.settle(message.id, run, () =>
      message.type === 'done' ? run.resolve(message.output) : run.reject(deserializeError(message.error)),
    );
  }

  private settle(id: number, run: PendingRun, answer: () => void): void {
    this.pending.delete(id);
    run.detach();
    answer();
  }

  private failAll(error: Error): void {
    for (const [id, run] of this.pending) this.settle(id, run, () => run.reject(error));
  }
}
