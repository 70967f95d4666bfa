/**
 * An HTTP/1.1 client over a bare TCP socket, for requests no well-behaved client would
 * send: duplicate or conflicting Content-Length, header bytes outside Latin-1, bodies
 * that are not what their headers say. Every request closes its connection, so the
 * answer ends where the socket does; an answer that never completes, or a reset before
 * it did, is reported as such rather than thrown.
 */
import { connect } from 'node:net';

export interface RawResponse {
  /** 0 when no status line arrived. */
  status: number;
  headers: Record<string, string[]>;
  body: Buffer;
  /** The whole answer arrived (its length, its last chunk, or the end of an event stream's headers). */
  complete: boolean;
  /** No answer completed and the connection stayed open until the timeout. */
  timedOut: boolean;
  /** A socket error seen while reading (ECONNRESET...), after or before the answer completed. */
  readError?: string;
  /** A socket error seen while writing the request (EPIPE once the server hung up, say). */
  writeError?: string;
}

export interface RawRequest {
  /** The request line and headers, without the blank line that ends them. */
  head: string | Buffer;
  body?: Buffer;
  /** Resolves with whatever arrived after this long; a hang is then `complete: false`. */
  timeoutMs?: number;
  /**
   * Half-closes the connection once the request is written, as a client that sent less
   * than it declared would. Otherwise the connection stays open until the answer ends
   * it (requests say `Connection: close`): a server that sees a half-closed connection
   * may drop the request it was still answering.
   */
  endAfterWrite?: boolean;
}

const HEAD_END = Buffer.from('\r\n\r\n');

interface Parsed {
  status: number;
  headers: Record<string, string[]>;
  body: Buffer;
  complete: boolean;
}

function dechunk(data: Buffer): { body: Buffer; complete: boolean } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return { body: Buffer.concat(parts), complete: false };
    const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return { body: Buffer.concat(parts), complete: false };
    if (size === 0) return { body: Buffer.concat(parts), complete: true };
    const start = lineEnd + 2;
    if (data.length < start + size + 2) return { body: Buffer.concat(parts), complete: false };
    parts.push(data.subarray(start, start + size));
    at = start + size + 2;
  }
}

function parse(received: Buffer, method: string): Parsed | null {
  // Interim answers (100 Continue) precede the one that counts.
  let data = received;
  while (/^HTTP\/1\.[01] 1\d\d /.test(data.subarray(0, 13).toString('latin1'))) {
    const end = data.indexOf(HEAD_END);
    if (end < 0) return null;
    data = data.subarray(end + HEAD_END.length);
  }
  const headEnd = data.indexOf(HEAD_END);
  if (headEnd < 0) return null;
  const [statusLine = '', ...lines] = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  const headers: Record<string, string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    headers[name] = [...(headers[name] ?? []), line.slice(colon + 1).trim()];
  }
  const rest = data.subarray(headEnd + HEAD_END.length);
  const noBody = method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
  if (noBody) return { status, headers, body: Buffer.alloc(0), complete: true };
  // An event stream never ends on its own: its status and headers are the answer.
  if (headers['content-type']?.[0]?.startsWith('text/event-stream')) {
    return { status, headers, body: rest, complete: true };
  }
  if (headers['transfer-encoding']?.[0]?.toLowerCase() === 'chunked') {
    return { status, headers, ...dechunk(rest) };
  }
  const length = headers['content-length']?.[0];
  if (length !== undefined) {
    const expected = Number(length);
    return { status, headers, body: rest.subarray(0, expected), complete: rest.length >= expected };
  }
  return { status, headers, body: rest, complete: false };
}

export function rawRequest(port: number, request: RawRequest): Promise<RawResponse> {
  const head = Buffer.isBuffer(request.head) ? request.head : Buffer.from(request.head, 'latin1');
  const method = head.subarray(0, head.indexOf(' ')).toString('latin1');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let readError: string | undefined;
    let writeError: string | undefined;
    let settled = false;
    const socket = connect(port, '127.0.0.1');
    const finish = (closed: boolean, timedOut = false) => {
      if (settled) return;
      const parsed = parse(Buffer.concat(chunks), method);
      // With Connection: close an answer without a length ends with the connection.
      const complete =
        parsed !== null &&
        (parsed.complete ||
          (closed &&
            !readError &&
            !parsed.headers['content-length'] &&
            !parsed.headers['transfer-encoding']));
      if (!complete && !closed) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({
        status: parsed?.status ?? 0,
        headers: parsed?.headers ?? {},
        body: parsed?.body ?? Buffer.alloc(0),
        complete,
        timedOut: timedOut && !complete,
        ...(readError ? { readError } : {}),
        ...(writeError ? { writeError } : {}),
      });
    };
    const timer = setTimeout(() => finish(true, true), request.timeoutMs ?? 60_000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      finish(false);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // Before the request was fully written it is the write that failed.
      if (socket.writableLength === 0) readError = error.code ?? error.message;
      else writeError = error.code ?? error.message;
    });
    socket.on('close', () => finish(true));
    socket.on('connect', () => {
      socket.write(Buffer.concat([head, HEAD_END]));
      if (request.body && request.body.length > 0) socket.write(request.body);
      if (request.endAfterWrite) socket.end();
    });
  });
}
