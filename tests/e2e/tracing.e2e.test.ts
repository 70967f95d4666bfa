/**
 * One trace per generation across processes: the API, the planner, the decoder and the
 * upload to S3 all export spans (OTLP/HTTP, JSON) that share the generation's trace id.
 * The collector is a plain HTTP server on loopback.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type E2eSystem, startSystem } from './harness.ts';

interface ExportedSpan {
  service: string;
  name: string;
  traceId: string;
  attributes: Record<string, unknown>;
}

let collector: Server;
const spans: ExportedSpan[] = [];
let system: E2eSystem;

function collect(body: string): void {
  const request = JSON.parse(body) as {
    resourceSpans?: Array<{
      resource?: { attributes?: Array<{ key: string; value: { stringValue?: string } }> };
      scopeSpans?: Array<{
        spans?: Array<{
          name: string;
          traceId: string;
          attributes?: Array<{ key: string; value: Record<string, unknown> }>;
        }>;
      }>;
    }>;
  };
  for (const resource of request.resourceSpans ?? []) {
    const service =
      resource.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? 'unknown';
    for (const scope of resource.scopeSpans ?? []) {
      for (const span of scope.spans ?? []) {
        const attributes = Object.fromEntries(
          (span.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]]),
        );
        spans.push({ service, name: span.name, traceId: span.traceId, attributes });
      }
    }
  }
}

beforeAll(async () => {
  collector = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type']?.includes('json')) collect(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  const { port } = collector.address() as AddressInfo;
  system = await startSystem({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` } });
});

afterAll(async () => {
  await system?.stop();
  await new Promise((resolve) => collector?.close(resolve));
});

it('follows a generation from the API through both workers to the object store in one trace', async () => {
  const { client } = system;
  const submitted = await client.submit({ prompt: 'a blue circle', width: 512, height: 512, steps: 2 });
  expect((await client.waitFor(submitted.id)).status).toBe('succeeded');

  // Spans are exported in batches every few seconds.
  const deadline = Date.now() + 120_000;
  const ofGeneration = () => {
    const root = spans.find(
      (s) => s.name === 'generation.enqueue' && s.attributes['generation.id'] === submitted.id,
    );
    return root ? spans.filter((s) => s.traceId === root.traceId) : [];
  };
  while (Date.now() < deadline && !ofGeneration().some((s) => s.name === 's3.put')) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const trace = ofGeneration();
  expect(new Set(trace.map((s) => s.service))).toEqual(new Set(['api', 'planner-worker', 'decoder-worker']));
  expect(trace.map((s) => s.name)).toEqual(
    expect.arrayContaining(['generation.enqueue', 'plan job', 'decode job', 's3.put']),
  );
});
