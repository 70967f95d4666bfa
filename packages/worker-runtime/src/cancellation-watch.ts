import type { GenerationStore } from '@glm-image/shared/generation-store';

/** Why a running job was stopped: the client canceled it, or this worker is shutting down. */
export type StopReason = 'canceled' | 'shutdown';

export interface CancellationWatch {
  /** Aborts (with the StopReason as `signal.reason`) when the job must stop. */
  readonly signal: AbortSignal;
  /** Aborts when the worker begins shutting down (SIGTERM): the job should take on no new work. */
  readonly draining: AbortSignal;
  /** Stops on behalf of the process (SIGTERM past its grace period). */
  shutdown(): void;
  /** The worker begins shutting down. */
  drain(): void;
  dispose(): void;
}

/**
 * Polls the generation record for a cancel request while a job runs. Models check the
 * signal between steps, so a cancel takes effect within one step plus one poll interval.
 * Polling a single key is cheaper and sturdier across Redis restarts than a subscription.
 */
export function watchCancellation(store: GenerationStore, id: string, intervalMs = 250): CancellationWatch {
  const controller = new AbortController();
  const draining = new AbortController();
  const abort = (reason: StopReason) => {
    if (!controller.signal.aborted) controller.abort(reason);
  };
  let polling = false;
  const timer = setInterval(async () => {
    if (polling || controller.signal.aborted) return;
    polling = true;
    try {
      const record = await store.get(id);
      if (!record || record.cancel_requested || record.status === 'canceled') abort('canceled');
    } catch {
      // Redis unreachable for a moment: the job goes on; the next poll tries again.
    } finally {
      polling = false;
    }
  }, intervalMs);
  timer.unref();
  return {
    signal: controller.signal,
    draining: draining.signal,
    shutdown: () => abort('shutdown'),
    drain: () => {
      if (!draining.signal.aborted) draining.abort();
    },
    dispose: () => clearInterval(timer),
  };
}
