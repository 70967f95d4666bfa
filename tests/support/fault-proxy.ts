/**
 * A real HTTP proxy on loopback between a client and the API that injects network
 * faults the way a flaky network would: it forwards every request, and for the ones a
 * test picks it drops the answer (the request did reach the API) or cuts a Server-Sent
 * Events answer right after the first event that carries an id, or passes the status and
 * headers on but swallows the body (as a proxy that buffers streams would, for as long
 * as the stream lasts). Nothing is answered in the API's place.
 */
import { createServer, request as forward, type IncomingMessage, type Server } from 'node:http';

export type Fault = 'drop-response' | 'cut-after-first-event' | 'swallow-body' | null;

export interface FaultProxy {
  url: string;
  /** `METHOD /path` of every request seen, in order. */
  requests: string[];
  close(): Promise<void>;
}

export async function startFaultProxy(
  upstream: string,
  faultFor: (request: IncomingMessage, index: number) => Fault,
): Promise<FaultProxy> {
  const target = new URL(upstream);
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const fault = faultFor(req, requests.length);
    requests.push(`${req.method} ${req.url}`);
    const upstreamRequest = forward(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (upstreamResponse) => {
        if (fault === 'drop-response') {
          // Let the API finish its work, then hang up on the client without a byte.
          upstreamResponse.resume();
          upstreamResponse.once('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        if (fault === 'swallow-body') {
          upstreamResponse.resume();
          upstreamResponse.once('end', () => res.end());
          return;
        }
        if (fault === 'cut-after-first-event') {
          const onData = (chunk: Buffer) => {
            if (!/^id:/m.test(chunk.toString('utf8'))) {
              res.write(chunk);
              return;
            }
            upstreamResponse.off('data', onData);
            res.write(chunk, () => {
              upstreamRequest.destroy();
              req.socket.destroy();
            });
          };
          upstreamResponse.on('data', onData);
          upstreamResponse.once('end', () => res.end());
          return;
        }
        upstreamResponse.pipe(res);
      },
    );
    upstreamRequest.on('error', () => req.socket.destroy());
    req.pipe(upstreamRequest);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
