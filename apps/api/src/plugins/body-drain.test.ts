import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiStack, KEYS, startApiStack } from '../testing/api-stack.ts';
import { DRAIN_LIMIT_BYTES } from './body-drain.ts';

/**
 * A body over the limit is answered 413 in the API's error format at once, and the
 * response ends (closing the connection) only after the server has read the rest of the
 * body, so the close never resets the connection under a client that is still sending:
 * the client always reads its 413, and one that waits for an answer before sending more
 * gets it. Checked on the server's side (the request was read to its end when the
 * response ended) and on the client's (the whole answer arrived, with no reset), over a
 * real socket.
 */

let stack: ApiStack;
let port: number;
/** For each answered request: was its body read to the end when the answer went out? */
const readToEnd = new Map<string, boolean>();

beforeAll(async () => {
  stack = await startApiStack();
  stack.app.server.on('request', (req: IncomingMessage, res) => {
    res.once('finish', () => readToEnd.set(String(req.headers['x-probe']), req.complete));
  });
  await stack.app.listen({ host: '127.0.0.1', port: 0 });
  port = (stack.app.server.address() as { port: number }).port;
});
afterAll(async () => {
  await stack?.close();
});

/** Sends the request, resolves with the answer's bytes and the first socket error, if any. */
function send(head: string, body: Buffer): Promise<{ answer: string; error?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`${head}\r\n\r\n`);
      socket.write(body);
    });
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error ??= e.code;
    });
    socket.on('close', () =>
      resolve({ answer: Buffer.concat(chunks).toString('utf8'), ...(error ? { error } : {}) }),
    );
  });
}

const BODY = Buffer.alloc(8 * 1024 * 1024, 0x20);
const head = (probe: string, framing: string) =>
  [
    'POST /v1/generations/gen_x/cancel HTTP/1.1',
    'Host: api',
    `Authorization: Bearer ${KEYS.acme}`,
    'Content-Type: application/json',
    `X-Probe: ${probe}`,
    framing,
    'Connection: close',
  ].join('\r\n');

function expect413(answer: string) {
  const [status = '', body = ''] = answer.split('\r\n\r\n');
  expect(status).toMatch(/^HTTP\/1\.1 413 /);
  expect(JSON.parse(body)).toEqual({
    error: { code: 'payload_too_large', message: 'Request body too large' },
  });
}

describe('a body over the limit', () => {
  it('declared by Content-Length is read to its end, then answered 413 without a reset', async () => {
    const res = await send(head('length', `Content-Length: ${BODY.length}`), BODY);
    expect(res.error).toBeUndefined();
    expect413(res.answer);
    expect(readToEnd.get('length')).toBe(true);
  });

  it('sent in chunks is read to its end, then answered 413 without a reset', async () => {
    const chunked = Buffer.concat([
      Buffer.from(`${BODY.length.toString(16)}\r\n`),
      BODY,
      Buffer.from('\r\n0\r\n\r\n'),
    ]);
    const res = await send(head('chunked', 'Transfer-Encoding: chunked'), chunked);
    expect(res.error).toBeUndefined();
    expect413(res.answer);
    expect(readToEnd.get('chunked')).toBe(true);
  });

  it('is answered before the rest of it is sent, to a client that waits for an answer', async () => {
    const answer = await new Promise<string>((resolve) => {
      let received = '';
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(`${head('waits', `Content-Length: ${BODY.length}`)}\r\n\r\n`);
        socket.write('{"prompt":"');
      });
      socket.on('data', (chunk) => {
        received += chunk.toString('utf8');
        const [status = '', body = ''] = received.split('\r\n\r\n');
        const length = Number(/content-length: (\d+)/i.exec(status)?.[1]);
        if (Buffer.byteLength(body) >= length) {
          resolve(received);
          socket.destroy();
        }
      });
    });
    expect413(answer);
  });

  it('declared larger than the server reads is answered 413 at once, without reading it', async () => {
    const res = await send(
      head('huge', `Content-Length: ${DRAIN_LIMIT_BYTES + 1}`),
      Buffer.from('{"the rest":"never comes"'),
    );
    expect413(res.answer);
    expect(readToEnd.get('huge')).toBe(false);
  });
});
