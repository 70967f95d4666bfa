import { threadId } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CanceledError, InvalidInputError, ModelError } from '../errors.ts';
import type { ModelPack } from '../model-pack.ts';
import { REFERENCE_MANIFEST } from '../reference-pack/reference-manifest.ts';
import { sessionOptionsFor } from './execution-options.ts';
import type { FixtureJobs } from './model-thread.fixture-jobs.ts';
import { ModelThread } from './model-thread.ts';

const pack: ModelPack = {
  dir: '/nonexistent',
  manifest: REFERENCE_MANIFEST,
  files: { planner: 'p', tokenizer: 't', denoiser: 'd', vaeDecoder: 'v' },
};
const FIXTURE = new URL('./model-thread.fixture-jobs.ts', import.meta.url);

describe('ModelThread', () => {
  let thread: ModelThread<FixtureJobs>;
  beforeAll(async () => {
    thread = await ModelThread.start<FixtureJobs>(
      FIXTURE,
      pack,
      { executionProvider: 'cpu' },
      { progressIntervalMs: 0 },
    );
  });
  afterAll(async () => {
    await thread.close();
  });

  it('runs a TypeScript job in another thread and streams progress', async () => {
    const progress: Array<{ step: number; total: number }> = [];
    const result = await thread.run(
      'count',
      { steps: 5, stepMs: 1 },
      { onProgress: (p: { step: number; total: number }) => progress.push(p) },
    );
    expect(result.steps).toBe(5);
    expect(result.packName).toBe(REFERENCE_MANIFEST.name);
    expect(result.threadId).not.toBe(threadId);
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps the caller event loop free while the job blocks its own thread', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    await thread.run('count', { steps: 20, stepMs: 15 });
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(5);
  });

  it('stops between steps when the signal aborts and rejects with CanceledError', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const run = thread.run(
      'count',
      { steps: 1000, stepMs: 5 },
      {
        signal: controller.signal,
        onProgress: (p: { step: number }) => {
          seen.push(p.step);
          if (p.step === 3) controller.abort();
        },
      },
    );
    await expect(run).rejects.toBeInstanceOf(CanceledError);
    expect(Math.max(...seen)).toBeLessThan(1000);
    // the thread is still usable afterwards
    await expect(thread.run('count', { steps: 1, stepMs: 0 })).resolves.toMatchObject({ steps: 1 });
  });

  it('starts queued runs in call order, and drops a queued run aborted before it starts without waiting', async () => {
    const order: string[] = [];
    const first = new AbortController();
    const queued = new AbortController();
    let firstStepSeen!: () => void;
    const firstRunning = new Promise<void>((resolve) => {
      firstStepSeen = resolve;
    });
    const running = thread.run(
      'count',
      { steps: 100_000, stepMs: 1 },
      {
        signal: first.signal,
        onStart: () => order.push('first started'),
        onProgress: () => firstStepSeen(),
      },
    );
    const dropped = thread.run(
      'count',
      { steps: 1, stepMs: 0 },
      { signal: queued.signal, onStart: () => order.push('dropped started') },
    );
    const last = thread.run('count', { steps: 1, stepMs: 0 }, { onStart: () => order.push('last started') });
    await firstRunning;
    queued.abort();
    // Rejected while the first run still holds the thread: it did not wait its turn.
    await expect(dropped).rejects.toBeInstanceOf(CanceledError);
    order.push('dropped rejected');
    first.abort();
    await expect(running).rejects.toBeInstanceOf(CanceledError);
    await expect(last).resolves.toMatchObject({ steps: 1 });
    expect(order).toEqual(['first started', 'dropped rejected', 'last started']);
  });

  it('rejects at once when the signal is already aborted', async () => {
    await expect(
      thread.run('count', { steps: 1, stepMs: 0 }, { signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(CanceledError);
  });

  it('rebuilds our error classes thrown inside the thread', async () => {
    const error = await thread.run('reject', { field: 'width' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).field).toBe('width');
    expect((error as InvalidInputError).code).toBe('invalid_input');
  });

  it('starts runs of a concurrent job while others of it are still running', async () => {
    // Each run of `meet` waits for the others: run one at a time, none would ever end.
    const runs = [1, 2, 3].map(() => thread.run('meet', { parties: 3 }));
    const results = await Promise.all(runs);
    expect(results.map((r) => r.arrived).sort()).toEqual([1, 2, 3]);
  });

  it('hands the caller settings to the jobs module', async () => {
    const other = await ModelThread.start<FixtureJobs>(FIXTURE, pack, undefined, {
      settings: { label: 'from the caller' },
    });
    try {
      await expect(other.run('meet', { parties: 1 })).resolves.toEqual({
        arrived: 1,
        label: 'from the caller',
      });
    } finally {
      await other.close();
    }
  });

  it('fails to start with a ModelError when the jobs module has no createModelJobs', async () => {
    await expect(ModelThread.start(new URL('./model-job.ts', import.meta.url), pack)).rejects.toBeInstanceOf(
      ModelError,
    );
  });

  it('refuses runs after close, and close can be called twice', async () => {
    const other = await ModelThread.start<FixtureJobs>(FIXTURE, pack);
    await other.close();
    await other.close();
    await expect(other.run('count', { steps: 1, stepMs: 0 })).rejects.toBeInstanceOf(ModelError);
  });
});

describe('sessionOptionsFor', () => {
  it('uses the CPU provider by default', () => {
    expect(sessionOptionsFor({ executionProvider: 'cpu' }).executionProviders).toEqual(['cpu']);
  });
  it('puts CUDA first with its device id, CPU as fallback, and passes thread counts', () => {
    const options = sessionOptionsFor({
      executionProvider: 'cuda',
      cudaDeviceId: 1,
      intraOpThreads: 2,
      interOpThreads: 1,
    });
    expect(options.executionProviders).toEqual([{ name: 'cuda', deviceId: 1 }, 'cpu']);
    expect(options.intraOpNumThreads).toBe(2);
    expect(options.interOpNumThreads).toBe(1);
  });
});
