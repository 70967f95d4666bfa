import { ConnectionError, retryAfterMs } from './errors.ts';

/**
 * Retries of requests the API refused for now (429 rate limited, 503 unavailable) and of
 * requests that never got an answer. A 429 or 503 waits what `Retry-After` says when it
 * says; otherwise the wait grows exponentially with jitter, so many clients that failed
 * together do not come back together. A request that got no answer is retried only when
 * sending it twice is harmless: reads, cancels, submits (which carry an Idempotency-Key),
 * or any request whose connection was refused and so never arrived.
 */

export interface RetryOptions {
  /** Retries after the first attempt. Default: 4. */
  retries?: number;
  /** The first backoff; each retry doubles it. Default: 500 ms. */
  baseDelayMs?: number;
  /** The longest backoff. Default: 20 s. */
  maxDelayMs?: number;
  /** A `Retry-After` longer than this is not waited out: the error is thrown instead. Default: 120 s. */
  maxRetryAfterMs?: number;
  /** Told before each wait: what failed and how long the client waits. */
  onRetry?: (retry: RetryEvent) => void;
  /** How to wait; tests inject their own clock. Default: a timer that the signal cancels. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Jitter source in [0, 1). Default: Math.random. */
  random?: () => number;
}

export interface RetryEvent {
  /** 1 for the first retry. */
  attempt: number;
  delayMs: number;
  /** The status that is retried, or undefined when there was no answer. */
  status?: number;
  error?: unknown;
  /** What was being sent, e.g. `POST /v1/generations`. */
  request: string;
}

export const RETRIED_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/** Whether a failed attempt may be sent again: `always` for requests that are safe to repeat. */
export type RepeatSafety = 'always' | 'if-not-sent';

export function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Node's fetch wraps the socket error; ECONNREFUSED means the request never left. */
function neverSent(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } })?.cause;
  return cause?.code === 'ECONNREFUSED' || (error as { code?: string })?.code === 'ECONNREFUSED';
}

export class Retrier {
  private readonly retries: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly sleep: NonNullable<RetryOptions['sleep']>;
  private readonly random: () => number;

  constructor(private readonly options: RetryOptions = {}) {
    this.retries = options.retries ?? 4;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 20_000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 120_000;
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
  }

  /** Half the exponential step plus up to half again at random ("equal jitter"). */
  backoffMs(attempt: number): number {
    const step = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(step / 2 + (this.random() * step) / 2);
  }

  /**
   * Runs `send` until it answers with something other than 429/503 or the retries run
   * out; returns the last answer (the caller turns a refusal into its error). Throws a
   * ConnectionError when no answer came, and the abort reason when `signal` fires.
   */
  async run<T extends { response: Response }>(
    request: string,
    safety: RepeatSafety,
    send: () => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      let result: T;
      try {
        result = await send();
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        const repeatable = safety === 'always' || neverSent(error);
        if (!repeatable || attempt > this.retries) {
          const reason = (error as { cause?: Error })?.cause?.message ?? (error as Error)?.message;
          throw new ConnectionError(`${request}: no answer from the API (${reason})`, { cause: error });
        }
        await this.wait({ attempt, delayMs: this.backoffMs(attempt), error, request }, signal);
        continue;
      }
      const { status, headers } = result.response;
      if (!RETRIED_STATUSES.has(status) || attempt > this.retries) return result;
      const asked = retryAfterMs(headers);
      if (asked !== null && asked > this.maxRetryAfterMs) return result;
      // The body of a refusal is not read again; free its connection.
      await result.response.body?.cancel().catch(() => undefined);
      await this.wait({ attempt, delayMs: asked ?? this.backoffMs(attempt), status, request }, signal);
    }
  }

  private async wait(event: RetryEvent, signal?: AbortSignal): Promise<void> {
    this.options.onRetry?.(event);
    await this.sleep(event.delayMs, signal);
  }
}
