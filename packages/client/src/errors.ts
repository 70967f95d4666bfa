/**
 * What the client throws. Every answer of the API that is not a success becomes an
 * ApiError subclass chosen by its status, carrying the API's own `code` (stable: key on
 * it) and `message` (for people). Failing to reach the API at all is a ConnectionError.
 */

export class GlmImageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ApiError extends GlmImageError {
  /** The API's error code, e.g. `invalid_input`, `not_found`, `rate_limited`. */
  readonly code: string;
  readonly status: number;
  readonly headers: Headers;

  constructor(status: number, code: string, message: string, headers: Headers) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** 400, 413, 415 and other refusals of what was sent: fix the request, do not retry it. */
export class BadRequestError extends ApiError {}
/** 401: no key, or a key the API does not know. */
export class AuthenticationError extends ApiError {}
/** 403: the key may not do this. */
export class PermissionDeniedError extends ApiError {}
/** 404: no such generation, or one of another tenant. */
export class NotFoundError extends ApiError {}
/** 409: an Idempotency-Key reused with another body, or a source that cannot be rendered. */
export class ConflictError extends ApiError {}
/** 429, after the client's own retries ran out. */
export class RateLimitError extends ApiError {
  /** What the API asked for in `Retry-After`, in milliseconds, when it said. */
  readonly retryAfterMs: number | null;
  constructor(status: number, code: string, message: string, headers: Headers) {
    super(status, code, message, headers);
    this.retryAfterMs = retryAfterMs(headers);
  }
}
/** 503: Redis or the object store is down, or the server is shutting down; after retries. */
export class ServiceUnavailableError extends ApiError {}
/** Any other 5xx. */
export class ServerError extends ApiError {}

/** No answer at all: refused, reset, timed out, DNS. */
export class ConnectionError extends GlmImageError {
  readonly code = 'connection_failed';
}

/** The event stream could not be followed; `wait` falls back to polling when it sees this. */
export class EventStreamError extends GlmImageError {}

const CLASS_BY_STATUS: Record<number, new (...args: ConstructorParameters<typeof ApiError>) => ApiError> = {
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  429: RateLimitError,
  503: ServiceUnavailableError,
};

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | null {
  const value = headers.get('retry-after')?.trim();
  if (!value) return null;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** The error for a non-2xx answer, from its status and the `{ error: { code, message } }` body. */
export function apiErrorFrom(response: Response, body: unknown): ApiError {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof error?.code === 'string' ? error.code : `http_${response.status}`;
  const message =
    typeof error?.message === 'string'
      ? error.message
      : `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  const ErrorClass =
    CLASS_BY_STATUS[response.status] ?? (response.status >= 500 ? ServerError : BadRequestError);
  return new ErrorClass(response.status, code, message, response.headers);
}
