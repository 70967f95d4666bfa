import {
  AppError,
  InvalidInputError,
  NotFoundError,
  RateLimitedError,
  ServiceUnavailableError,
} from '@glm-image/shared/errors';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { answerThenDrain, worthDraining } from './body-drain.ts';

/**
 * One error handler for the whole app: every error leaves as
 * `{ error: { code, message } }`. What a client sent never becomes a 500, and a 5xx
 * message never carries internals (those go to the log only). Errors carry codes, not
 * statuses: the status of each code is decided here, at the HTTP edge.
 */

export class PayloadTooLargeError extends AppError {
  constructor(message = 'Request body too large') {
    super('payload_too_large', message);
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor(message = 'Content-Type must be application/json') {
    super('unsupported_media_type', message);
  }
}

/** The HTTP status of each error code; a code not listed is a server error. */
export const HTTP_STATUS_OF_CODE: Readonly<Record<string, number>> = {
  invalid_input: 400,
  unsupported: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  idempotency_conflict: 409,
  generation_exists: 409,
  source_not_renderable: 409,
  not_rateable: 409,
  feedback_limit_reached: 409,
  canceled: 409,
  payload_too_large: 413,
  method_not_allowed: 405,
  unsupported_media_type: 415,
  rate_limited: 429,
  service_unavailable: 503,
};

export function httpStatusOf(error: AppError): number {
  return HTTP_STATUS_OF_CODE[error.code] ?? 500;
}

interface ValidationIssue {
  instancePath: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

/** `body.webhook.url: Invalid URL`; unknown keys are named as the field at fault. */
function describeValidation(
  context: string | undefined,
  issues: readonly ValidationIssue[],
): InvalidInputError {
  const issue = issues[0];
  const where = context === 'querystring' ? 'query' : (context ?? 'body');
  if (!issue) return new InvalidInputError(where, 'invalid');
  const pathParts = issue.instancePath.split('/').filter(Boolean);
  const unknownKeys =
    issue.keyword === 'unrecognized_keys' ? (issue.params?.['keys'] as string[] | undefined) : undefined;
  if (unknownKeys && unknownKeys.length > 0) {
    const field = [...pathParts, unknownKeys[0]].join('.');
    return new InvalidInputError(field, 'unknown field');
  }
  // Array items as `reference_images[2]`, the way the API's own checks name them.
  const path = pathParts.reduce(
    (at, part) => (/^\d+$/.test(part) ? `${at}[${part}]` : at ? `${at}.${part}` : part),
    '',
  );
  const field = path || where;
  return new InvalidInputError(field, issue.message ?? 'invalid');
}

/** Node's codes for a connection that failed or was cut: the dependency, not the request, is at fault. */
const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE']);

/**
 * A failure of Redis or the object store, told by the error's class and code, or by the
 * state of the Redis connection when the error surfaced (ioredis rejects commands on a
 * closed connection with a plain Error): the client should retry later.
 */
function isDependencyFailure(error: Error, redisDown: () => boolean): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    (code !== undefined && CONNECTION_ERROR_CODES.has(code)) ||
    redisDown()
  );
}

export function toAppError(error: FastifyError | Error, redisDown: () => boolean = () => false): AppError {
  if (error instanceof AppError) return error;
  const fastifyError = error as FastifyError;
  if (hasZodFastifySchemaValidationErrors(fastifyError)) {
    return describeValidation(fastifyError.validationContext, fastifyError.validation as ValidationIssue[]);
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLargeError();
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new UnsupportedMediaTypeError();
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new InvalidInputError('body', 'must not be empty when Content-Type is application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new InvalidInputError('body', 'not valid JSON');
  }
  const status = fastifyError.statusCode ?? 500;
  if (status === 413) return new PayloadTooLargeError();
  if (status === 415) return new UnsupportedMediaTypeError();
  if (status === 404) return new NotFoundError();
  if (status === 429) return new RateLimitedError(1);
  if (status >= 400 && status < 500) {
    // JSON syntax errors and other malformed requests rejected by Fastify itself.
    const message = error instanceof SyntaxError ? 'body: not valid JSON' : `request: ${error.message}`;
    return new AppError('invalid_input', message);
  }
  if (isDependencyFailure(error, redisDown)) return new ServiceUnavailableError();
  return new AppError('internal_error', 'Internal server error');
}

export function sendError(reply: FastifyReply, error: AppError): FastifyReply {
  if (error instanceof RateLimitedError && !reply.hasHeader('retry-after')) {
    reply.header('retry-after', String(error.retryAfterSeconds));
  }
  const status = httpStatusOf(error);
  // A route may have named its own challenge (the dashboard asks browsers for Basic).
  if (status === 401 && !reply.hasHeader('www-authenticate')) reply.header('www-authenticate', 'Bearer');
  return reply.code(status).type('application/json; charset=utf-8').send(error.toJSON());
}

async function errorsPlugin(app: FastifyInstance): Promise<void> {
  app.setErrorHandler(async (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const appError = toAppError(error, () => app.hasDecorator('redis') && app.redis.status !== 'ready');
    const status = httpStatusOf(appError);
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else {
      request.log.info({ code: appError.code, status }, appError.message);
    }
    if (appError instanceof PayloadTooLargeError && worthDraining(request.raw)) {
      answerThenDrain(reply, status, appError.toJSON());
      return reply;
    }
    return sendError(reply, appError);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new NotFoundError(`No route ${request.method} ${request.url.split('?')[0]}`)),
  );
}

export default fp(errorsPlugin, { name: 'errors' });
