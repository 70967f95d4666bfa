/**
 * Cancel: a queued generation's waiting job is removed and the generation ends canceled
 * here; a running one is flagged and its worker stops within one model step; a finished
 * one is returned as it is. Every ending goes through the lifecycle, so the API's own
 * cancels are counted and announced like the workers'.
 */
import { NotFoundError } from '@glm-image/shared/errors';
import { type GenerationRecord, isTerminal } from '@glm-image/shared/generation';
import type { GenerationLifecycle } from '@glm-image/shared/lifecycle';
import { type DecodeJobData, decodeJobId, type PlanJobData } from '@glm-image/shared/queues';
import type { Queue } from 'bullmq';
import type { Principal } from '../plugins/auth.ts';
import type { GenerationReads } from './generation-reads.ts';

/** States in which a job has not been taken by a worker and can simply be removed. */
const REMOVABLE_STATES = new Set(['waiting', 'prioritized', 'delayed']);

export interface CancellationDeps {
  lifecycle: GenerationLifecycle;
  reads: GenerationReads;
  planQueue: Queue<PlanJobData>;
  decodeQueue: Queue<DecodeJobData>;
}

export class Cancellation {
  constructor(private readonly deps: CancellationDeps) {}

  async cancel(principal: Principal, id: string): Promise<GenerationRecord> {
    const { lifecycle, planQueue, decodeQueue } = this.deps;
    const record = await this.deps.reads.find(principal, id);
    if (isTerminal(record.status)) return record;
    await this.removeWaitingJob(planQueue, id);
    // A re-render waits in the decode queue from the start.
    if (record.input.source_generation_id) await this.removeWaitingJob(decodeQueue, decodeJobId(id));
    let current = await lifecycle.requestCancel(id);
    if (current && !isTerminal(current.status)) {
      // A decode job nobody has picked up yet can go too; the generation then ends here.
      if (await this.removeWaitingJob(decodeQueue, decodeJobId(id))) {
        current = (await lifecycle.finishCanceled(id)) ?? (await lifecycle.store.get(id));
      }
    }
    if (!current) throw new NotFoundError(`No generation ${id}`);
    return current;
  }

  /** Removes a job that is still waiting; a job a worker holds (locked) stays and is told via the record. */
  private async removeWaitingJob(queue: Queue, jobId: string): Promise<boolean> {
    try {
      const job = await queue.getJob(jobId);
      if (!job || !REMOVABLE_STATES.has(await job.getState())) return false;
      await job.remove();
      return true;
    } catch {
      // Taken by a worker between the two calls: the cancel flag on the record stops it.
      return false;
    }
  }
}
