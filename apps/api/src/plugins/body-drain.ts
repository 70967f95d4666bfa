/**
 * The rest of a body refused as too large, read and thrown away before the 413 goes out.
 * Fastify refuses such a body as soon as it knows (by Content-Length, or once it has read
 * past the limit) and answers with `Connection: close`; a socket closed while the client
 * is still sending answers the rest with a reset, which can reach the client before the
 * 413 does. Read to its end, the body is gone before the connection closes, and the
 * client reads its 413 in full. A body larger still than DRAIN_LIMIT_BYTES is not read:
 * the 413 goes out at once, and the connection closes after it.
 */
import type { IncomingMessage } from 'node:http';

/** The most bytes of a refused body the server reads to answer it cleanly. */
export const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

export function drainUnreadBody(raw: IncomingMessage, limit = DRAIN_LIMIT_BYTES): Promise<void> {
  if (raw.complete || raw.readableEnded || raw.destroyed) return Promise.resolve();
  if (Number(raw.headers['content-length']) > limit) return Promise.resolve();
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
