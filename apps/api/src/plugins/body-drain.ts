/**
 * A body refused as too large is answered at once, and the connection closed only once
 * the rest of the body is read and thrown away. Fastify refuses such a body as soon as it
 * knows (by Content-Length, or once it has read past the limit) and closes the connection
 * after its 413; a socket closed while the client is still sending answers the rest with
 * a reset, which can reach the client before the 413 does and take it with it. Waiting
 * for the whole body before answering would instead leave a client that waits for an
 * answer before sending more with none. So the whole 413 goes out first (its length
 * stated, so the client can read it while still sending), and the response ends, closing
 * the connection, once the body has ended. A body larger still than DRAIN_LIMIT_BYTES is
 * not read: the connection closes right after the 413.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply } from 'fastify';

/** The most bytes of a refused body the server reads to answer it cleanly. */
export const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

/** Whether the request still has body bytes on their way, few enough to read and discard. */
export function worthDraining(raw: IncomingMessage, limit = DRAIN_LIMIT_BYTES): boolean {
  if (raw.complete || raw.readableEnded || raw.destroyed) return false;
  return !(Number(raw.headers['content-length']) > limit);
}

/** Resolves once the request's body has ended, or once more than `limit` bytes were read. */
export function drainUnreadBody(raw: IncomingMessage, limit = DRAIN_LIMIT_BYTES): Promise<void> {
  if (!worthDraining(raw, limit)) return Promise.resolve();
  return new Promise((resolve) => {
    let read = 0;
    const done = () => {
      raw.off('data', onData);
      raw.off('end', done);
      raw.off('close', done);
      raw.off('error', done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      read += chunk.length;
      if (read > limit) {
        raw.pause();
        done();
      }
    };
    raw.on('data', onData);
    raw.once('end', done);
    raw.once('close', done);
    raw.once('error', done);
    raw.resume();
  });
}

/**
 * Sends `status` with the JSON `body` at once, then ends the response (and with it the
 * connection) once the request's body has been read to its end. The reply is hijacked:
 * the headers already set on it go out as they are.
 */
export function answerThenDrain(reply: FastifyReply, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  const headers: OutgoingHttpHeaders = {
    ...(reply.getHeaders() as OutgoingHttpHeaders),
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    connection: 'close',
  };
  reply.hijack();
  reply.raw.writeHead(status, headers);
  reply.raw.write(payload);
  void drainUnreadBody(reply.request.raw).then(() => reply.raw.end());
}
