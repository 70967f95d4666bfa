import {
  ApiError,
  ConnectionError,
  RateLimitError,
  ServerError,
  ServiceUnavailableError,
} from '../errors.ts';
import type { GenerationStatus } from '../types.ts';

/** The `glm-image` command's exit codes; scripts key on them, so they never change meaning. */
export const EXIT = {
  /** The generation succeeded, or the command did what it was asked. */
  succeeded: 0,
  /** The generation failed, or the command could not finish for another reason. */
  failed: 1,
  /**
   * A usage error (a --reference file missing or not an image included), or the API
   * refused the request as sent (400, 401, 403, 404, 409, 413, 415).
   */
  badInput: 2,
  /** The generation was canceled. */
  canceled: 3,
  /** The API could not be reached or could not serve (no connection; 429, 503 or 5xx after retries). */
  unreachable: 4,
  /** Interrupted (Ctrl-C); the generation goes on on the server. */
  interrupted: 130,
} as const;

/** A mistake in the command line itself. */
export class UsageError extends Error {}

export function exitCodeOfStatus(status: GenerationStatus): number {
  if (status === 'failed') return EXIT.failed;
  if (status === 'canceled') return EXIT.canceled;
  return EXIT.succeeded;
}

export function exitCodeOfError(error: unknown): number {
  if (error instanceof UsageError) return EXIT.badInput;
  if (error instanceof ConnectionError) return EXIT.unreachable;
  if (error instanceof RateLimitError || error instanceof ServiceUnavailableError) return EXIT.unreachable;
  if (error instanceof ServerError) return EXIT.unreachable;
  if (error instanceof ApiError) return EXIT.badInput;
  return EXIT.failed;
}

export const EXIT_CODES_HELP = `Exit codes:
  0    succeeded (status: the generation succeeded or is still running)
  1    the generation failed, or the command could not finish
  2    bad input: a usage error (a --reference file missing or not an image included),
       or the API refused the request (400, 401, 403, 404, 409, 413, 415)
  3    the generation was canceled
  4    the API is unreachable or unavailable (no connection; 429, 503 or 5xx after retries)
  130  interrupted (Ctrl-C); the generation goes on: \`glm-image status <id>\``;
