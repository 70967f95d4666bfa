import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import {
  extract,
  initTracing,
  inject,
  SpanKind,
  type TraceCarrier,
  type Tracing,
  withSpan,
} from './tracing.ts';

describe('tracing', () => {
  let tracing: Tracing | undefined;
  afterEach(async () => {
    await tracing?.shutdown();
    tracing = undefined;
  });

  it('is off without an endpoint: spans are no-ops and nothing is injected', async () => {
    const previous = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    try {
      tracing = initTracing({ serviceName: 'api' });
      expect(tracing.enabled).toBe(false);
      const carrier = await withSpan('generation.create', {}, () => inject());
      expect(carrier).toEqual({});
      await expect(withSpan('boom', {}, () => Promise.reject(new Error('model failed')))).rejects.toThrow(
        'model failed',
      );
    } finally {
      if (previous !== undefined) process.env.OTEL_EXPORTER_OTLP_ENDPOINT = previous;
    }
  });

  it('carries one trace from the API through job data to the planner, decoder and upload', async () => {
    const exporter = new InMemorySpanExporter();
    tracing = initTracing({ serviceName: 'pipeline', spanProcessors: [new SimpleSpanProcessor(exporter)] });
    expect(tracing.enabled).toBe(true);

    // API: the request span writes its context into the plan job's data.
    const planJob = await withSpan(
      'api.create_generation',
      { 'generation.id': 'g1' },
      () => ({
        generationId: 'g1',
        trace: inject(),
      }),
      { kind: SpanKind.SERVER },
    );
    expect(planJob.trace.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    // Job data crosses Redis as JSON; the workers start from no active context at all.
    const fromRedis = (data: unknown) => JSON.parse(JSON.stringify(data)) as { trace: TraceCarrier };
    const decodeJob = await context.with(ROOT_CONTEXT, () =>
      withSpan('planner.plan', {}, () => ({ trace: inject() }), {
        parent: fromRedis(planJob).trace,
        kind: SpanKind.CONSUMER,
      }),
    );
    await context.with(ROOT_CONTEXT, () =>
      withSpan('decoder.decode', {}, () => withSpan('s3.put_object', { 'object.index': 0 }, () => 'stored'), {
        parent: extract(fromRedis(decodeJob).trace),
      }),
    );
    // A job without trace data starts a trace of its own.
    await context.with(ROOT_CONTEXT, () =>
      withSpan('planner.plan', {}, () => undefined, { parent: extract(undefined) }),
    );

    const spans = exporter.getFinishedSpans();
    const byName = (name: string) => spans.filter((s) => s.name === name);
    const api = byName('api.create_generation')[0]!;
    const [planner, orphan] = byName('planner.plan');
    const decoder = byName('decoder.decode')[0]!;
    const upload = byName('s3.put_object')[0]!;
    const traceId = api.spanContext().traceId;
    for (const span of [planner!, decoder, upload]) expect(span.spanContext().traceId).toBe(traceId);
    expect(planner!.parentSpanContext?.spanId).toBe(api.spanContext().spanId);
    expect(decoder.parentSpanContext?.spanId).toBe(planner!.spanContext().spanId);
    expect(upload.parentSpanContext?.spanId).toBe(decoder.spanContext().spanId);
    expect(orphan!.spanContext().traceId).not.toBe(traceId);
    expect(api.resource.attributes['service.name']).toBe('pipeline');
  });

  it('marks a span as failed when its function throws', async () => {
    const exporter = new InMemorySpanExporter();
    tracing = initTracing({
      serviceName: 'decoder-worker',
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    await expect(
      withSpan('decoder.decode', {}, () => Promise.reject(new Error('vae failed'))),
    ).rejects.toThrow('vae failed');
    const [span] = exporter.getFinishedSpans();
    expect(span?.status).toEqual({ code: 2, message: 'vae failed' });
    expect(span?.events.map((e) => e.name)).toEqual(['exception']);
  });

  it('exports over OTLP/HTTP to <endpoint>/v1/traces', async () => {
    const received: { path: string; body: string }[] = [];
    const collector = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        received.push({ path: req.url ?? '', body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = collector.address() as AddressInfo;
      tracing = initTracing({ serviceName: 'api', endpoint: `http://127.0.0.1:${port}/` });
      await withSpan('api.create_generation', { 'generation.id': 'g2' }, () => undefined);
      await tracing.shutdown();
      expect(received.map((r) => r.path)).toEqual(['/v1/traces']);
      expect(received[0]!.body).toContain('api.create_generation');
    } finally {
      await new Promise((resolve) => collector.close(resolve));
    }
  });
});
