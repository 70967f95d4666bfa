/**
 * A real HTTP receiver on 127.0.0.1 for the webhook tests: records every request and
 * answers with whatever the test scripts, one answer per request.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

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
}

export interface TestReceiver {
  port: number;
  url: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

/** `answer` picks the response for the n-th request (0-based); default 200. */
export async function startTestReceiver(
  answer: (index: number, request: ReceivedRequest) => ScriptedAnswer = () => ({ status: 200 }),
): Promise<TestReceiver> {
  const requests: ReceivedRequest[] = [];
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
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
