/**
 * The small HTTP server every worker runs beside its BullMQ Worker: /metrics for
 * Prometheus, /healthz for liveness (the process answers) and /readyz for readiness
 * (its dependencies answer). Plain node:http: a worker needs no framework for three routes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthReport {
  ok: boolean;
  detail?: object;
}

export interface WorkerHttpServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  /** Readiness: called on each /readyz; a throw or a timeout counts as not ready. */
  health: () => Promise<HealthReport>;
  /** Longest a readiness check may take before it is reported as failed (default 2000 ms). */
  healthTimeoutMs?: number;
}

export interface WorkerHttpServer {
  /** The port actually bound (useful when `port` was 0). */
  readonly port: number;
  readonly url: string;
  /** Marks the process as draining: /readyz answers 503 from now on, /healthz still 200. */
  setDraining(): void;
  /** Stops listening; safe to call more than once. */
  close(): Promise<void>;
}

function sendJson(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

async function checkHealth(health: () => Promise<HealthReport>, timeoutMs: number): Promise<HealthReport> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<HealthReport>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, detail: { error: `health check exceeded ${timeoutMs} ms` } }),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([
      health().catch((error: unknown) => ({
        ok: false,
        detail: { error: error instanceof Error ? error.message : String(error) },
      })),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startWorkerHttpServer(options: WorkerHttpServerOptions): Promise<WorkerHttpServer> {
  const healthTimeoutMs = options.healthTimeoutMs ?? 2000;
  let draining = false;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (path) {
      case '/metrics': {
        const body = await options.registry.metrics();
        res.writeHead(200, { 'content-type': options.registry.contentType });
        res.end(body);
        return;
      }
      case '/healthz':
        sendJson(res, 200, { ok: true });
        return;
      case '/readyz': {
        if (draining) {
          sendJson(res, 503, { ok: false, detail: { draining: true } });
          return;
        }
        const report = await checkHealth(options.health, healthTimeoutMs);
        sendJson(res, report.ok ? 200 : 503, report);
        return;
      }
      default:
        sendJson(res, 404, { error: { code: 'not_found', message: `no route ${path}` } });
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        sendJson(res, 500, {
          error: { code: 'internal', message: error instanceof Error ? error.message : 'error' },
        });
      } else {
        res.destroy();
      }
    });
  });
  // Probes open a connection each time; do not let idle keep-alive sockets delay close().
  server.keepAliveTimeout = 1000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;

  return {
    port: address.port,
    url: `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`,
    setDraining() {
      draining = true;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        draining = true;
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
