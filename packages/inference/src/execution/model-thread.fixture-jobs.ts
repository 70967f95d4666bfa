/** A jobs module for model-thread.test.ts: loops that block their thread the way `session.run` does. */
import { InvalidInputError } from '../errors.ts';
import type { CreateModelJobs, ModelJob } from './model-job.ts';

function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: stands in for a synchronous model call
  }
}

export type FixtureJobs = {
  count: ModelJob<{ steps: number; stepMs: number }, { steps: number; packName: string; threadId: number }>;
  reject: ModelJob<{ field: string }, never>;
  /** Concurrent: resolves once `parties` runs are waiting together, with the settings' label. */
  meet: ModelJob<{ parties: number }, { arrived: number; label: string }>;
};

export const createModelJobs: CreateModelJobs<FixtureJobs, { label: string } | undefined> = async (
  pack,
  _options,
  settings,
) => {
  const { threadId } = await import('node:worker_threads');
  // Runs of `meet` that are waiting; each arrival releases everyone once enough are here.
  const waiting: Array<() => void> = [];
  return {
    concurrent: ['meet'],
    jobs: {
      meet: ({ parties }) =>
        new Promise((resolve) => {
          const arrived = waiting.length + 1;
          waiting.push(() => resolve({ arrived, label: settings?.label ?? 'none' }));
          if (waiting.length >= parties) for (const release of waiting.splice(0)) release();
        }),
      count: async ({ steps, stepMs }, ctx) => {
        for (let step = 0; step < steps; step++) {
          ctx.throwIfCanceled();
          blockFor(stepMs);
          ctx.progress({ step: step + 1, total: steps }, step + 1 === steps);
        }
        return { steps, packName: pack.manifest.name, threadId };
      },
      reject: async ({ field }) => {
        throw new InvalidInputError(field, 'rejected by the fixture');
      },
    },
  };
};
