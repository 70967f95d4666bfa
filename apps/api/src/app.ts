import { fastifySSE } from '@fastify/sse';
import { InvalidInputError, ServiceUnavailableError } from '@glm-image/shared/errors';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiEnv } from './env.ts';
import {
  answerUnmetExpectations,
  BODY_LIMIT_BYTES,
  clientErrorHandler,
  frameworkErrors,
  MAX_PARAM_LENGTH,
  missingHost,
  NODE_HTTP_OPTIONS,
  refuseConnect,
} from './http-edge.ts';
import type { ModelLimits } from './model-limits.ts';
import { openApiPlugin } from './openapi/openapi-plugin.ts';
import authPlugin, { KeyRegistry } from './plugins/auth.ts';
import errorsPlugin, { sendError } from './plugins/errors.ts';
import infrastructure from './plugins/infrastructure.ts';
import rateLimitPlugin from './plugins/rate-limit.ts';
import services from './plugins/services.ts';
import { feedbackRoutes } from './routes/feedback.ts';
import { generationEventRoutes, KEEP_ALIVE_MS } from './routes/generation-events.ts';
import { generationFileRoutes } from './routes/generation-files.ts';
import { generationRoutes } from './routes/generations.ts';
import { healthRoutes } from './routes/health.ts';
import { playgroundRoutes } from './routes/playground.ts';
import { queueDashboardRoutes } from './routes/queue-dashboard.ts';
import { renderRoutes } from './routes/renders.ts';
import { trainingExportRoutes } from './routes/training-export.ts';
import type { WebhookResolver } from './webhooks/ssrf-guard.ts';

/**
 * The HTTP API as a Fastify plugin: the process (server.ts) and the tests register it
 * the same way. What it talks to is built by the infrastructure plugin from `env` and
 * reaches the routes as decorators (app.store, app.lifecycle, app.queues, app.objects...).
 */

export interface ApiAppOptions {
  env: ApiEnv;
  /** The model pack's limits when the caller has them already; else read from MODEL_PACK_PATH. */
  limits?: ModelLimits;
  /** Resolves webhook host names at submit time; tests answer from a table. */
  webhookResolver?: WebhookResolver;
  /** Window of the per-key rate limit. Default: 60000 ms (keys are configured per minute). */
  rateLimitWindowMs?: number;
}

export { BODY_LIMIT_BYTES };

/** The deepest nesting of arrays and objects a request body may have. */
export const MAX_JSON_DEPTH = 32;

/** How deep arrays and objects nest in JSON text, counted without parsing it (strings skipped). */
export function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i += 1; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x7d || c === 0x5d) depth -= 1;
  }
  return deepest;
}

async function apiApp(app: FastifyInstance, options: ApiAppOptions): Promise<void> {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(errorsPlugin);
  await app.register(infrastructure, {
    env: options.env,
    ...(options.limits ? { limits: options.limits } : {}),
  });
  await app.register(services, options.webhookResolver ? { webhookResolver: options.webhookResolver } : {});

  // While closing, answers still in flight tell clients to drop the connection, so a
  // keep-alive socket does not hold the shutdown open after its last response.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
  // Requests that arrive while closing get a 503 in the API's error format (Fastify's own
  // return503OnClosing answers in its format, hence off).
  // Sent rather than thrown: a scope with its own error handler (Bull Board's) would
  // answer a thrown error in its format.
  app.addHook('onRequest', async (request, reply) => {
    if (closing) return sendError(reply, new ServiceUnavailableError('The server is shutting down; retry'));
    const hostless = missingHost(request);
    if (hostless) return sendError(reply, hostless);
  });
  app.addHook('onResponse', async (request, reply) => {
    // Unmatched URLs share one label so that scanners cannot inflate the series count.
    const route = request.routeOptions.url ?? 'unmatched';
    app.metrics.observeHttpRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });

  // POSTs without a body (cancel) often still say application/json; treat empty as no body.
  // No request this API takes nests deeply; a body that does is refused before anything
  // walks it recursively (validation, hashing, serialization).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (typeof body === 'string' && body.trim() === '') return done(null, undefined);
    if (nestingDepth(body as string) > MAX_JSON_DEPTH) {
      return done(new InvalidInputError('body', `nested deeper than ${MAX_JSON_DEPTH} levels`), undefined);
    }
    return parseJson(request, body as string, done);
  });

  await app.register(openApiPlugin, { serverUrl: options.env.PUBLIC_API_URL });
  // Server-Sent Events for routes declared with `sse`; the heartbeat is their keep-alive comment.
  await app.register(fastifySSE, { heartbeatInterval: KEEP_ALIVE_MS });

  await app.register(healthRoutes);
  // The playground page calls the routes below with the key the person enters.
  const publicBucket = options.env.S3_PUBLIC_BASE_URL;
  await app.register(playgroundRoutes, publicBucket ? { imageOrigin: new URL(publicBucket).origin } : {});

  const keys = new KeyRegistry(options.env.API_KEYS, options.env.DEV_API_KEY);
  const failures = {
    redis: app.redis,
    keyPrefix: app.keys.authFailuresNamespace,
    max: options.env.AUTH_FAILURES_PER_MINUTE,
    windowMs: 60_000,
  };
  await app.register(queueDashboardRoutes, { keys, failures });

  // Everything under /v1 needs a key and counts against its rate limit.
  await app.register(async (v1) => {
    await v1.register(authPlugin, { keys, failures });
    await v1.register(rateLimitPlugin, {
      redis: app.redis,
      namespace: app.keys.rateLimitNamespace,
      ...(options.rateLimitWindowMs === undefined ? {} : { windowMs: options.rateLimitWindowMs }),
    });
    await v1.register(generationRoutes);
    await v1.register(generationEventRoutes);
    await v1.register(generationFileRoutes);
    await v1.register(renderRoutes);
    await v1.register(feedbackRoutes);
    await v1.register(trainingExportRoutes);
  });
}

export const apiPlugin = fp(apiApp, { name: 'glm-image-api' });

export interface BuildAppOptions extends ApiAppOptions {
  logger?: FastifyServerOptions['logger'];
  /** Which X-Forwarded-* headers to believe (TRUST_PROXY). Default: none. */
  trustProxy?: boolean | string;
}

/** Paths never written to logs: keys are secrets, idempotency keys may be too. */
export const REDACTED_LOG_PATHS = ['req.headers.authorization', 'req.headers["idempotency-key"]'];

export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: options.trustProxy ?? false,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    clientErrorHandler,
    // Request ids in logs line up with the client's X-Request-Id when it sends one.
    requestIdHeader: 'x-request-id',
    return503OnClosing: false,
    http: NODE_HTTP_OPTIONS,
  }).withTypeProvider<ZodTypeProvider>();
  const { logger: _logger, trustProxy: _trustProxy, ...appOptions } = options;
  await app.register(apiPlugin, appOptions);
  answerUnmetExpectations(app.server);
  refuseConnect(app.server);
  await app.ready();
  return app;
}
