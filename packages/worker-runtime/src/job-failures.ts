/**
 * How a failed attempt is classified, by the error's class and code only (never by its
 * message): stopped on purpose (cancel or shutdown), permanent (the input or the model
 * is at fault, so a retry cannot help) or transient (retried with backoff).
 */
import { errorCodeOf, PERMANENT_ERROR_CODES } from '@glm-image/shared/errors';
import { UnrecoverableError } from 'bullmq';

export type FailureKind = 'stopped' | 'permanent' | 'transient';

export function classifyFailure(error: unknown, signal: AbortSignal): FailureKind {
  // Anything thrown after the job's own signal fired is the stop it asked for (model
  // runtimes throw CanceledError, fetch-like code AbortError).
  if (signal.aborted && (errorCodeOf(error) === 'canceled' || (error as Error | null)?.name === 'AbortError'))
    return 'stopped';
  if (error instanceof UnrecoverableError || PERMANENT_ERROR_CODES.has(errorCodeOf(error)))
    return 'permanent';
  return 'transient';
}

/** What the client is told: our own errors as they are, anything else without its internals. */
export function publicMessage(error: unknown): { code: string; message: string } {
  const code = errorCodeOf(error);
  if (code === 'internal_error') return { code, message: 'Internal error while generating' };
  return { code, message: (error as Error).message };
}
