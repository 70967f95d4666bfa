/**
 * Entry of a model thread (see model-thread.ts). Loads the jobs module named in
 * workerData, then runs jobs one at a time: ONNX `session.run` blocks the thread it runs
 * on, so jobs cannot usefully overlap, and running them in order keeps each job's
 * timing honest. Jobs the module lists as `concurrent` start on arrival instead: the
 * module itself merges them into one loop (one `session.run` per step for all of them).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CanceledError, serializeError } from '../errors.ts';
import type {
  CreateModelJobs,
  FromModelThread,
  ModelJob,
  ModelJobContext,
  ModelJobs,
  ModelThreadData,
  ToModelThread,
} from './model-job.ts';

const port = parentPort;
if (!port) throw new Error('model-thread-worker.ts must run as a worker thread');
const data = workerData as ModelThreadData;
const send = (message: FromModelThread) => port.postMessage(message);

const jobs = await loadJobs();
if (jobs) {
  let queue: Promise<void> = Promise.resolve();
  const concurrent = new Set<string>(jobs.concurrent ?? []);
  const inFlight = new Set<Promise<void>>();
  port.on('message', (message: ToModelThread) => {
    if (message.type === 'run' && concurrent.has(message.job)) {
      const run = runJob(jobs, message).finally(() => inFlight.delete(run));
      inFlight.add(run);
    } else if (message.type === 'run') {
      queue = queue.then(() => runJob(jobs, message));
    } else if (message.type === 'close') {
      queue = queue.then(async () => {
        try {
          await Promise.all(inFlight);
          await jobs.close?.();
        } finally {
          send({ type: 'closed' });
          port.close();
        }
      });
    }
  });
  send({ type: 'ready' });
}

/** Imports the jobs module and builds its jobs; on failure reports why (the caller then ends the thread). */
async function loadJobs(): Promise<ModelJobs | null> {
  try {
    const module = (await import(data.jobsModule)) as {
      createModelJobs?: CreateModelJobs<Record<string, ModelJob>, unknown>;
    };
    if (typeof module.createModelJobs !== 'function') {
      throw new TypeError(`${data.jobsModule} does not export createModelJobs`);
    }
    return await module.createModelJobs(data.pack, data.options, data.settings);
  } catch (error) {
    send({ type: 'load-failed', error: serializeError(error) });
    return null;
  }
}

async function runJob(jobs: ModelJobs, message: Extract<ToModelThread, { type: 'run' }>): Promise<void> {
  const flag = new Int32Array(message.cancelFlag);
  let lastProgress = 0;
  const context: ModelJobContext = {
    pack: data.pack,
    options: data.options,
    get canceled() {
      return Atomics.load(flag, 0) !== 0;
    },
    throwIfCanceled() {
      if (Atomics.load(flag, 0) !== 0) throw new CanceledError();
    },
    progress(progressData, force = false) {
      const now = performance.now();
      if (!force && now - lastProgress < data.progressIntervalMs) return;
      lastProgress = now;
      send({ type: 'progress', id: message.id, data: progressData });
    },
  };
  send({ type: 'started', id: message.id });
  try {
    const job = jobs.jobs[message.job];
    if (!job) throw new TypeError(`unknown model job ${message.job}`);
    context.throwIfCanceled();
    const output = await job(message.input, context);
    send({ type: 'done', id: message.id, output });
  } catch (error) {
    send({ type: 'failed', id: message.id, error: serializeError(error) });
  }
}
