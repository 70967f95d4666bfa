import { ServiceMetrics } from '@glm-image/shared/metrics';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type HealthReport, startWorkerHttpServer, type WorkerHttpServer } from './worker-http.ts';

describe('startWorkerHttpServer', () => {
  let server: WorkerHttpServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves the registry on /metrics in the Prometheus text format', async () => {
    const metrics = new ServiceMetrics({ service: 'decoder-worker' });
    metrics.observeStage('decode', 1.5);
    metrics.countGeneration('failed', 'model_error');
    server = await startWorkerHttpServer({
      port: 0,
      host: '127.0.0.1',
      registry: metrics.registry,
      health: async () => ({ ok: true }),
    });
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const body = await res.text();
    expect(body).toContain('glm_stage_duration_seconds_count{service="decoder-worker",stage="decode"} 1');
    expect(body).toContain(
      'glm_generations_total{status="failed",code="model_error",service="decoder-worker"} 1',
    );
    expect(body).toContain('process_cpu_user_seconds_total');
  });

  it('answers liveness while readiness follows the health check', async () => {
    let report: HealthReport = { ok: true, detail: { redis: 'up' } };
    server = await startWorkerHttpServer({
      port: 0,
      host: '127.0.0.1',
      registry: new Registry(),
      health: async () => report,
    });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ok: true, detail: { redis: 'up' } });

    report = { ok: false, detail: { redis: 'down' } };
    const notReady = await fetch(`${server.url}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ ok: false, detail: { redis: 'down' } });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });

  it('reports not ready when the check throws or hangs, and while draining', async () => {
    let mode: 'throw' | 'hang' | 'ok' = 'throw';
    server = await startWorkerHttpServer({
      port: 0,
      host: '127.0.0.1',
      registry: new Registry(),
      healthTimeoutMs: 100,
      health: () =>
        mode === 'throw'
          ? Promise.reject(new Error('redis refused'))
          : mode === 'hang'
            ? new Promise<HealthReport>(() => {})
            : Promise.resolve({ ok: true }),
    });
    const thrown = await fetch(`${server.url}/readyz`);
    expect(thrown.status).toBe(503);
    expect(await thrown.json()).toEqual({ ok: false, detail: { error: 'redis refused' } });
    mode = 'hang';
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    mode = 'ok';
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    server.setDraining();
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('closes once even when close() is called twice, freeing the port', async () => {
    server = await startWorkerHttpServer({
      port: 0,
      host: '127.0.0.1',
      registry: new Registry(),
      health: async () => ({ ok: true }),
    });
    const { port, url } = server;
    await fetch(`${url}/healthz`);
    await Promise.all([server.close(), server.close()]);
    await server.close();
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    // The same port can be bound again: the first server really let go of it.
    server = await startWorkerHttpServer({
      port,
      host: '127.0.0.1',
      registry: new Registry(),
      health: async () => ({ ok: true }),
    });
    expect(server.port).toBe(port);
  });
});
