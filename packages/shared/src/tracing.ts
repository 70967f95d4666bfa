/**
 * OpenTelemetry tracing: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set, then spans are
 * exported over OTLP/HTTP. One generation is one trace across processes: the producer
 * writes the W3C trace context into the job data (`inject()`), the consumer continues
 * from it (`extract()` or `withSpan(..., { parent })`). With tracing off the API's no-op
 * tracer is used, so callers never branch on whether tracing is on.
 */
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

const TRACER_NAME = '@glm-image/shared';

export interface TracingOptions {
  serviceName: string;
  /** OTLP base URL (traces go to `<endpoint>/v1/traces`); defaults to OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint?: string;
  /** Replaces the OTLP exporter, e.g. an in-memory processor in tests; turns tracing on by itself. */
  spanProcessors?: SpanProcessor[];
}

export interface Tracing {
  readonly enabled: boolean;
  /** Flushes pending spans and unregisters the global provider; safe to call twice. */
  shutdown(): Promise<void>;
}

/** Trace context as carried in job data (W3C `traceparent`, optional `tracestate`/`baggage`). */
export type TraceCarrier = Record<string, string>;

/**
 * Turns tracing on for this process when an endpoint (or span processors) is given.
 * Call once at start-up, before the first span.
 */
export function initTracing(options: TracingOptions): Tracing {
  const endpoint = options.endpoint ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint && !options.spanProcessors) {
    return { enabled: false, shutdown: async () => {} };
  }
  const spanProcessors = options.spanProcessors ?? [
    new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint!.replace(/\/+$/, '')}/v1/traces` })),
  ];
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
    spanProcessors,
  });
  // Registers the provider, the AsyncLocalStorage context manager and the W3C propagators.
  provider.register();
  let stopping: Promise<void> | undefined;
  return {
    enabled: true,
    shutdown() {
      stopping ??= (async () => {
        try {
          await provider.shutdown();
        } finally {
          trace.disable();
          context.disable();
          propagation.disable();
        }
      })();
      return stopping;
    },
  };
}

/** The active trace context serialized for job data; empty when tracing is off. */
export function inject(from: Context = context.active()): TraceCarrier {
  const carrier: TraceCarrier = {};
  propagation.inject(from, carrier);
  return carrier;
}

/** `{ trace }` for job data when a span is active, `{}` when tracing is off (no empty carriers in jobs). */
export function traceField(from: Context = context.active()): { trace?: TraceCarrier } {
  const carrier = inject(from);
  return Object.keys(carrier).length > 0 ? { trace: carrier } : {};
}

/** A context continuing the trace in `carrier` (root context when the carrier is empty or missing). */
export function extract(carrier: TraceCarrier | undefined): Context {
  return carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
}

export interface SpanOptions {
  kind?: SpanKind;
  /** Parent: a context, or a carrier from job data; defaults to the active context. */
  parent?: Context | TraceCarrier;
}

function isContext(value: Context | TraceCarrier): value is Context {
  return typeof (value as Context).getValue === 'function';
}

/**
 * Runs `fn` inside a new active span; the span ends when `fn` settles, with an error
 * status and the exception recorded when it throws.
 */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T> | T,
  options: SpanOptions = {},
): Promise<T> {
  const parent =
    options.parent === undefined
      ? context.active()
      : isContext(options.parent)
        ? options.parent
        : extract(options.parent);
  const tracer = trace.getTracer(TRACER_NAME);
  return tracer.startActiveSpan(
    name,
    { attributes, kind: options.kind ?? SpanKind.INTERNAL },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (error) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: error instanceof Error ? error.message : String(error),
        });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

export { SpanKind };
