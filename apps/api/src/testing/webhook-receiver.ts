/**
 * A real HTTP receiver on 127.0.0.1 for the webhook tests: records every request and
 * answers with whatever the test scripts, one answer per request, including receivers
 * that misbehave after their status line: a huge body streamed as fast as the caller
 * reads it, or one byte at a time that never ends.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { verifyWebhook } from '../webhooks/signing.ts';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
}

export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  /** Never answer (to exercise timeouts). */
  hang?: boolean;
  /** A body of this many bytes, written in 64 KiB chunks as the caller reads it (never held in memory). */
  streamBytes?: number;
  /** A body that never ends: one byte every 100 ms. */
  trickle?: boolean;
}

/** What became of one answer's body. */
export interface SentAnswer {
  bytesWritten: number;
  /** Resolves when the connection closed; `ended` says whether the whole body went out first. */
  closed: Promise<{ ended: boolean }>;
}

export interface TestReceiver {
  port: number;
  url: string;
  requests: ReceivedRequest[];
  /** One entry per answer begun, in the order of `requests`. */
  sent: SentAnswer[];
  close(): Promise<void>;
}

const STREAM_CHUNK = Buffer.alloc(64 * 1024, 'x');

/** `answer` picks the response for the n-th request (0-based); default 200. */
export async function startTestReceiver(
  answer: (index: number, request: ReceivedRequest) => ScriptedAnswer = () => ({ status: 200 }),
): Promise<TestReceiver> {
  const requests: ReceivedRequest[] = [];
  const sent: SentAnswer[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        receivedAt: Date.now(),
      };
      const scripted = answer(requests.length, received);
      requests.push(received);
      if (scripted.hang) return;
      res.writeHead(scripted.status, scripted.headers ?? {});
      if (scripted.streamBytes === undefined && !scripted.trickle) {
        res.end('ok');
        return;
      }
      const body: SentAnswer = {
        bytesWritten: 0,
        closed: new Promise((resolve) => res.once('close', () => resolve({ ended: res.writableFinished }))),
      };
      sent.push(body);
      if (scripted.trickle) {
        const timer = setInterval(() => {
          body.bytesWritten += 1;
          res.write('x');
        }, 100);
        res.once('close', () => clearInterval(timer));
        return;
      }
      const total = scripted.streamBytes ?? 0;
      const pump = () => {
        while (body.bytesWritten < total && !res.destroyed) {
          const chunk = STREAM_CHUNK.subarray(0, Math.min(STREAM_CHUNK.length, total - body.bytesWritten));
          body.bytesWritten += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        if (!res.destroyed) res.end();
      };
      pump();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    sent,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The types of the webhook events `receiver` got for generation `id`, sorted, each
 * signature checked with `secret` as a receiver checks it (a bad one throws).
 */
export function deliveredEventTypes(receiver: TestReceiver, secret: string, id: string): string[] {
  return receiver.requests
    .map(
      (request) =>
        verifyWebhook(secret, request.body, request.headers) as { type: string; data: { id: string } },
    )
    .filter((payload) => payload.data.id === id)
    .map((payload) => payload.type)
    .sort();
}
