/**
 * Storing a rendered image through an object-store outage. Rendering is the expensive
 * part, so the image is kept in hand and put again round after round (each put has its
 * own short retries) until the store takes it; only an outage longer than
 * `giveUpAfterMs`, counted from the first round that failed, ends the job, as
 * `storage_unavailable`, a failure no retry of the job repeats. Answers that another try
 * cannot change (access denied, missing bucket) and cancellation end it at once.
 */
import { CanceledError, errorCodeOf, StorageUnavailableError } from '@glm-image/shared/errors';

/** Pause between two rounds; short, since each round already waited out its own retries. */
export const ROUND_PAUSE_MS = 1_000;

export interface StoreWhenReachableOptions {
  giveUpAfterMs: number;
  signal: AbortSignal;
  /** Called after each round that found the store unreachable (metrics, logs). */
  onUnreachable?: (error: unknown, unreachableForMs: number) => void;
  /** Milliseconds on a monotonic clock; injected by tests. */
  now?: () => number;
  /** Waits `ms` or until `signal` aborts; injected by tests. */
  pause?: (ms: number, signal: AbortSignal) => Promise<void>;
}

function pauseFor(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs `put` until it succeeds; rethrows anything but the store being unreachable. */
export async function storeWhenReachable<T>(
  put: () => Promise<T>,
  options: StoreWhenReachableOptions,
): Promise<T> {
  const now = options.now ?? (() => performance.now());
  const pause = options.pause ?? pauseFor;
  const { signal } = options;
  let firstFailure: number | undefined;
  for (;;) {
    if (signal.aborted) throw new CanceledError();
    try {
      return await put();
    } catch (error) {
      if (errorCodeOf(error) !== 'service_unavailable') throw error;
      firstFailure ??= now();
      const unreachableForMs = now() - firstFailure;
      options.onUnreachable?.(error, unreachableForMs);
      if (unreachableForMs >= options.giveUpAfterMs) {
        throw new StorageUnavailableError(
          `The object store was unreachable for ${Math.round(unreachableForMs / 1000)} s ` +
            `(the limit is ${Math.round(options.giveUpAfterMs / 1000)} s); the rendered images could not be stored`,
          { cause: error },
        );
      }
      await pause(Math.min(ROUND_PAUSE_MS, options.giveUpAfterMs - unreachableForMs), signal);
    }
  }
}
