/**
 * Named errors with stable codes. The code is what clients and dashboards key on, so
 * it never changes once published; the message is for people and may.
 */

export class AppError extends Error {
  readonly code: string;
  readonly httpStatus: number;

  constructor(code: string, message: string, httpStatus = 500, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.httpStatus = httpStatus;
  }

  /** The JSON body every HTTP error uses: `{ error: { code, message } }`. */
  toJSON(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

export class InvalidInputError extends AppError {
  /** The request field at fault, when there is one (the message also names it). */
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super('invalid_input', message, 400);
    this.field = field;
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Missing or invalid API key') {
    super('unauthorized', message, 401);
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'Not found') {
    super('not_found', message, 404);
  }
}

export class IdempotencyConflictError extends AppError {
  constructor(message = 'Idempotency-Key was already used with a different request body') {
    super('idempotency_conflict', message, 409);
  }
}

/** A generation id that already exists: a programming error, since ids are generated. */
export class GenerationExistsError extends AppError {
  constructor(id: string) {
    super('generation_exists', `Generation ${id} already exists`, 409);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(message = 'Request body too large') {
    super('payload_too_large', message, 413);
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor(message = 'Content-Type must be application/json') {
    super('unsupported_media_type', message, 415);
  }
}

export class RateLimitedError extends AppError {
  /** Seconds the client should wait; the API sends it as `Retry-After`. */
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number, message = 'Rate limit exceeded') {
    super('rate_limited', message, 429);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message = 'A dependency is unavailable', options?: { cause?: unknown }) {
    super('service_unavailable', message, 503, options);
  }
}

/** The model failed on this input; retrying the same job will not help. */
export class ModelError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('model_error', message, 500, options);
  }
}

/** The generation was canceled while a worker ran it; the worker stops, nothing retries. */
export class CanceledError extends AppError {
  constructor(message = 'Generation was canceled') {
    super('canceled', message, 409);
  }
}

export class TimeoutError extends AppError {
  constructor(message = 'Operation timed out') {
    super('timeout', message, 504);
  }
}

/** The process environment is invalid; thrown once at start-up, listing every bad variable. */
export class ConfigError extends AppError {
  readonly problems: readonly { variable: string; message: string }[];
  constructor(problems: readonly { variable: string; message: string }[]) {
    const lines = problems.map((p) => `  - ${p.variable}: ${p.message}`);
    super('invalid_config', `Invalid environment (${problems.length} problem(s)):\n${lines.join('\n')}`, 500);
    this.problems = problems;
  }
}
