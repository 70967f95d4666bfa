/**
 * A job whose lock ran out while its worker still ran it (Redis away for longer than a
 * lock lasts) is handed out again by the stalled-job check, and may come back to the
 * process that still runs it. BullMQ keeps the locks a worker renews by job id: when the
 * first run ends, it stops renewing the second run's lock too, so the job would stall
 * again and again until it failed as `worker_lost`.
 *
 * So a run of a job this process is still running waits for the earlier run to end (whose
 * work may well have finished the generation: the new run then finds it over and only
 * completes the job), and renews its own lock from the start to its end.
 */
import type { Job } from 'bullmq';

export interface JobRunsOptions {
  lockDurationMs: number;
  lockRenewMs: number;
  log: { warn(obj: object, msg: string): void };
}

export class JobRuns {
  /** The latest run of each job this process is running, which the next one waits for. */
  private readonly latest = new Map<string, Promise<void>>();

  constructor(private readonly options: JobRunsOptions) {}

  async run<T>(job: Job, token: string | undefined, work: () => Promise<T>): Promise<T> {
    const id = job.id ?? '';
    const earlier = this.latest.get(id);
    let ended!: () => void;
    const thisRun = new Promise<void>((resolve) => {
      ended = resolve;
    });
    this.latest.set(id, thisRun);
    let renewal: NodeJS.Timeout | undefined;
    try {
      if (earlier) {
        this.options.log.warn({ job_id: id }, 'job handed out again while this process still runs it');
        if (token !== undefined) renewal = this.renew(job, token);
        await earlier;
      }
      return await work();
    } finally {
      clearInterval(renewal);
      if (this.latest.get(id) === thisRun) this.latest.delete(id);
      ended();
    }
  }

  /** Renews the lock of this run every lockRenewMs, until the returned timer is cleared. */
  private renew(job: Job, token: string): NodeJS.Timeout {
    const id = job.id ?? '';
    return setInterval(() => {
      job.extendLock(token, this.options.lockDurationMs).then(
        (extended) => {
          if (!extended) this.options.log.warn({ job_id: id }, 'lost the lock of a job run again');
        },
        (error: unknown) => {
          this.options.log.warn({ job_id: id, err: (error as Error).message }, 'could not renew a job lock');
        },
      );
    }, this.options.lockRenewMs);
  }
}
