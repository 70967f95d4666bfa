/**
 * One hierarchy of named errors with stable codes, used by every package: the model
 * runtime, the workers and the API. The code is what clients, job policies and
 * dashboards key on, so it never changes once published; the message is for people and
 * may. Nothing here knows about HTTP: the API maps codes to statuses at its edge.
 */

export class AppError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /** The error body every interface uses: `{ error: { code, message } }`. */
  toJSON(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** A request the system cannot serve as asked. `field` names the request field at fault. */
export class InvalidInputError extends AppError {
  readonly field: string;
  /** What is wrong with the field, without the field's name. */
  readonly problem: string;
  constructor(field: string, problem: string) {
    super('invalid_input', `${field}: ${problem}`);
    this.field = field;
    this.problem = problem;
  }
}

/** A feature the interface describes but this deployment does not serve. */
export class UnsupportedFeatureError extends AppError {
  constructor(message: string) {
    super('unsupported', message);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Missing or invalid API key') {
    super('unauthorized', message);
  }
}

/** A valid key that may not do what it asked (an admin-only page with a tenant key). */
export class ForbiddenError extends AppError {
  constructor(message = 'This key may not do that') {
    super('forbidden', message);
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'Not found') {
    super('not_found', message);
  }
}

export class IdempotencyConflictError extends AppError {
  constructor(message = 'Idempotency-Key was already used with a different request body') {
    super('idempotency_conflict', message);
  }
}

/** A generation id that already exists: a programming error, since ids are generated. */
export class GenerationExistsError extends AppError {
  constructor(id: string) {
    super('generation_exists', `Generation ${id} already exists`);
  }
}

export class RateLimitedError extends AppError {
  /** Seconds the client should wait; the API sends it as `Retry-After`. */
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number, message = 'Rate limit exceeded') {
    super('rate_limited', message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** A full tenant usually frees a slot within seconds; the client retries after that. */
const TENANT_FULL_RETRY_AFTER_SECONDS = 5;

/** The tenant already has as many unfinished generations as it may. */
export class TenantAtCapacityError extends RateLimitedError {
  constructor(maxUnfinished: number) {
    super(
      TENANT_FULL_RETRY_AFTER_SECONDS,
      `Too many generations in flight (${maxUnfinished} of ${maxUnfinished}); retry when one finishes`,
    );
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message = 'A dependency is unavailable', options?: { cause?: unknown }) {
    super('service_unavailable', message, options);
  }
}

/**
 * The object store stayed unreachable for longer than the decoder waits with rendered
 * images in hand (STORAGE_UNAVAILABLE_AFTER_MS): the generation ends failed with this
 * code instead of rendering again later.
 */
export class StorageUnavailableError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('storage_unavailable', message, options);
  }
}

/** The model failed or produced output the runtime cannot use; retrying the same job will not help. */
export class ModelError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('model_error', message, options);
  }
}

/** The model pack on disk is unusable. `file` is the pack file at fault, `field` the manifest field or graph property. */
export class ModelPackError extends AppError {
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super('model_pack_invalid', `${file}: ${field}: ${problem}`, options);
  }
}

/** Work stopped because its AbortSignal fired (a client's cancel, or a shutdown). */
export class CanceledError extends AppError {
  constructor(message = 'Generation was canceled') {
    super('canceled', message);
  }
}

/** The process environment is invalid; thrown once at start-up, listing every bad variable. */
export class ConfigError extends AppError {
  readonly problems: readonly { variable: string; message: string }[];
  constructor(problems: readonly { variable: string; message: string }[]) {
    const lines = problems.map((p) => `  - ${p.variable}: ${p.message}`);
    super('invalid_config', `Invalid environment (${problems.length} problem(s)):\n${lines.join('\n')}`);
    this.problems = problems;
  }
}

/**
 * Codes that no retry of the job can fix: the input or the model is at fault, or the
 * object store stayed away past the decoder's bound (a retry would render again only to
 * wait for the same store).
 */
export const PERMANENT_ERROR_CODES: ReadonlySet<string> = new Set([
  'invalid_input',
  'model_error',
  'model_pack_invalid',
  'storage_unavailable',
  'unsupported',
]);

/** The stable code of any thrown value; `internal_error` for anything that is not ours. */
export function errorCodeOf(error: unknown): string {
  if (error instanceof AppError) return error.code;
  return 'internal_error';
}
