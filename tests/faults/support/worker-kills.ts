/**
 * SIGKILL for worker processes, aimed at moments that matter: a process is killed while
 * it holds jobs, and a job can be made to kill whichever process runs it. The processes
 * are supervised (ManagedProcess), so each one killed comes back after a short delay, the
 * way Kubernetes restarts a pod.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from 'bullmq';
import type { ManagedProcess } from '../../../scripts/stack/managed-process.ts';
import { jobsHeldBy, pidOfWorkerName, workerNameOf } from './held-jobs.ts';

export interface Victim {
  role: 'planner' | 'decoder';
  process: ManagedProcess;
  /** The queue it consumes. */
  queue: Queue;
  /** Its readiness URL (/readyz): 200 once it consumes its queue. */
  readyUrl: string;
}

export interface Kill {
  role: Victim['role'];
  /** The killed process's worker name (host:pid). */
  worker: string;
  killedAt: number;
  /** The jobs it held when it died. */
  jobs: string[];
}

async function waitForExit(process: ManagedProcess, pid: number): Promise<void> {
  while (process.pid === pid) await sleep(10);
}

/** Resolves once every one of `victims` answers its readiness probe with 200. */
export async function waitUntilReady(victims: readonly Victim[]): Promise<void> {
  for (const victim of victims) {
    for (;;) {
      const ready = await fetch(victim.readyUrl).then(
        (res) => res.ok,
        () => false,
      );
      if (ready) break;
      await sleep(100);
    }
  }
}

/**
 * Kills the victim the moment it is seen holding a job, none of them in `spare`, and
 * resolves once it is dead, with the jobs it held at its death (read after it, so a job
 * it finished in between does not count). That list may be empty: the job it was seen
 * with may have finished before the signal landed.
 */
export async function killWhileBusy(victim: Victim, spare: ReadonlySet<string>): Promise<Kill> {
  for (;;) {
    const pid = victim.process.pid;
    if (pid === undefined) {
      await sleep(50);
      continue;
    }
    const worker = workerNameOf(pid);
    const held = await jobsHeldBy(victim.queue, worker);
    if (held.length === 0 || held.some((id) => spare.has(id)) || victim.process.pid !== pid) {
      await sleep(20);
      continue;
    }
    const killedAt = Date.now();
    victim.process.kill('SIGKILL');
    await waitForExit(victim.process, pid);
    return { role: victim.role, worker, killedAt, jobs: await jobsHeldBy(victim.queue, worker) };
  }
}

/**
 * A job that kills its worker every time it runs: whenever the job is running in one of
 * `processes`, that process is killed. Resolves once the job has ended (the queue gave
 * up on it), with the workers it killed. A job the stalled check has condemned (BullMQ's
 * deferred failure) is failed by the next worker that takes it, without running: that
 * worker is left alone.
 */
export async function killEveryRunOf(
  queue: Queue,
  jobId: string,
  processes: readonly ManagedProcess[],
): Promise<string[]> {
  const killed: string[] = [];
  for (;;) {
    const job = await queue.getJob(jobId);
    if (job?.finishedOn !== undefined) return killed;
    const worker = job?.processedBy;
    const pid = pidOfWorkerName(worker);
    const holder = processes.find((process) => process.pid !== undefined && process.pid === pid);
    if (worker && holder && !killed.includes(worker) && !job?.deferredFailure) {
      holder.kill('SIGKILL');
      killed.push(worker);
      await waitForExit(holder, pid!);
    }
    await sleep(25);
  }
}
