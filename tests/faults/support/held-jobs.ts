/**
 * Which jobs a worker process holds, read from Redis the way BullMQ records it: each job
 * a worker takes gets the worker's name (`processedBy`, host:pid) and the time it was
 * taken (`processedOn`). A job held by a process that died keeps both until the stalled
 * check hands it out again, so after a kill they say which jobs the dead process held,
 * and later when each one started running again.
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';

/** The name a worker process of this machine gives BullMQ (workerProcessName in that process). */
export function workerNameOf(pid: number): string {
  return `${hostname()}:${pid}`;
}

/** The pid in a worker name, or null when the name is not one of ours. */
export function pidOfWorkerName(name: string | undefined): number | null {
  const match = name?.match(/:(\d+)$/);
  return match ? Number(match[1]) : null;
}

/** Ids of the jobs the named worker holds now (active, taken by it last). */
export async function jobsHeldBy(queue: Queue, workerName: string): Promise<string[]> {
  const active = await queue.getJobs(['active']);
  return active.filter((job) => job.processedBy === workerName).map((job) => job.id!);
}

export interface Rerun {
  jobId: string;
  /** Milliseconds from the kill to the moment another process took the job. */
  afterMs: number;
}

/**
 * Waits until a job the killed worker held is taken by another process, and says how
 * long after the kill that was (by the taking worker's own record of the moment). Polls:
 * the job keeps the dead worker's name until then. A job that ended without being taken
 * again (it failed as lost) rejects.
 */
export async function waitForRerun(
  queue: Queue,
  jobId: string,
  killedWorker: string,
  killedAt: number,
): Promise<Rerun> {
  for (;;) {
    const job = await queue.getJob(jobId);
    if (!job) throw new Error(`job ${jobId} of ${killedWorker} is gone`);
    if (job.processedBy !== killedWorker && job.processedOn !== undefined) {
      return { jobId, afterMs: job.processedOn - killedAt };
    }
    if (job.finishedOn !== undefined) {
      throw new Error(`job ${jobId} of ${killedWorker} ended without running again: ${job.failedReason}`);
    }
    await sleep(100);
  }
}
