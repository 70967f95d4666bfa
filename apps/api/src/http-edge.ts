/**
 * Errors raised before a request reaches a route, answered in the API's error format
 * like every other: requests Node's HTTP parser rejects (malformed, oversized headers),
 * URLs the router cannot decode or whose segments are too long, and `Expect` values the
 * server does not meet. None of them echoes what the client sent.
 */
import type { Socket } from 'node:net';
import { AppError, InvalidInputError } from '@glm-image/shared/errors';
import type { FastifyError, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { sendError } from './plugins/errors.ts';

/**
 * Requests are small JSON documents; a submit may be larger by the reference images it
 * carries inline (see the submit route's own limit).
 */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/** The longest path segment the router matches; ids are validated to this length by their schema. */
export const MAX_PARAM_LENGTH = 128;

class HeadersTooLargeError extends AppError {
  constructor() {
    super('headers_too_large', 'Request headers are too large');
  }
}

class ExpectationFailedError extends AppError {
  constructor() {
    super('expectation_failed', 'Expect: only 100-continue is supported');
  }
}

class MethodNotAllowedError extends AppError {
  constructor() {
    super('method_not_allowed', 'CONNECT is not served here');
  }
}

/** Errors of the router, before any route or hook runs. */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      sendError(reply, new InvalidInputError('path', 'not a valid URL (malformed percent-encoding)'));
      return;
    case 'FST_ERR_MAX_PARAM_LENGTH':
      sendError(
        reply,
        new InvalidInputError('path', `a path segment is longer than ${MAX_PARAM_LENGTH} characters`),
      );
      return;
    default:
      sendError(reply, new AppError('internal_error', 'Internal server error'));
  }
}

/** The raw answer on a socket whose request never became one Fastify could route. */
function rawAnswer(status: number, reason: string, error: AppError): string {
  const body = JSON.stringify(error.toJSON());
  return [
    `HTTP/1.1 ${status} ${reason}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

/** Requests Node's HTTP parser rejects: 431 for oversized headers, 400 for anything else malformed. */
export const clientErrorHandler: NonNullable<FastifyServerOptions['clientErrorHandler']> = (
  error: Error & { code?: string },
  socket: Socket,
) => {
  // A reset or timed-out socket has no one left to answer.
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const answer =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? rawAnswer(431, 'Request Header Fields Too Large', new HeadersTooLargeError())
      : rawAnswer(400, 'Bad Request', new InvalidInputError('request', 'not a valid HTTP request'));
  socket.end(answer);
};

/**
 * Node hands a CONNECT request to 'connect' listeners and, with none, leaves the client
 * waiting on an open socket. Nothing here tunnels: it is answered and closed.
 */
export function refuseConnect(server: {
  on(event: 'connect', listener: (req: unknown, socket: import('node:stream').Duplex) => void): void;
}): void {
  server.on('connect', (_req, socket) => {
    socket.on('error', () => socket.destroy());
    // Node hands the socket over paused: reading what follows lets the client's close be
    // seen, or the socket would stay open after both sides are done with it.
    socket.resume();
    socket.end(rawAnswer(405, 'Method Not Allowed', new MethodNotAllowedError()));
  });
}

/**
 * HTTP/1.1 requires a Host header, and Node answers a request without one with an empty
 * 400 of its own (requireHostHeader). Turned off there, this check, the first hook of
 * every request, gives the same refusal in the API's format.
 */
export const NODE_HTTP_OPTIONS = { requireHostHeader: false } as const;

export function missingHost(request: FastifyRequest): InvalidInputError | null {
  const { httpVersionMajor, httpVersionMinor, headers } = request.raw;
  const needsHost = httpVersionMajor > 1 || (httpVersionMajor === 1 && httpVersionMinor >= 1);
  return needsHost && !headers.host ? new InvalidInputError('request', 'a Host header is required') : null;
}

/** Node answers an `Expect` it does not meet with an empty 417 unless the server does. */
export function answerUnmetExpectations(server: {
  on(
    event: 'checkExpectation',
    listener: (req: unknown, res: import('node:http').ServerResponse) => void,
  ): void;
}): void {
  server.on('checkExpectation', (_req, res) => {
    const body = JSON.stringify(new ExpectationFailedError().toJSON());
    res.writeHead(417, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
    });
    res.end(body);
  });
}
