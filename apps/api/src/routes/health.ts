import { ServiceUnavailableError } from '@glm-image/shared/errors';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponses } from '../schemas/generation.ts';

/** Probes for orchestrators and the Prometheus scrape; none of them needs a key. */

const READY_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not answer in ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        operationId: 'getHealth',
        summary: 'The process is up',
        security: [],
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        operationId: 'getReadiness',
        summary: 'Redis and the object store are reachable',
        security: [],
        response: { 200: z.object({ status: z.literal('ready') }), ...errorResponses(503) },
      },
    },
    async (request) => {
      const checks = [
        ['redis', withTimeout(app.redis.ping(), 'Redis')],
        ['object store', withTimeout(app.objects.ping(), 'Object store')],
      ] as const;
      const results = await Promise.allSettled(checks.map(([, check]) => check));
      const down = checks.filter((_, i) => results[i]?.status === 'rejected').map(([name]) => name);
      if (down.length > 0) {
        request.log.warn({ down }, 'not ready');
        throw new ServiceUnavailableError(`Not ready: ${down.join(' and ')} unreachable`);
      }
      return { status: 'ready' as const };
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        operationId: 'getMetrics',
        summary: 'Prometheus metrics',
        security: [],
        response: {
          200: {
            description: 'Metrics in the Prometheus text exposition format.',
            content: { 'text/plain': { schema: z.string() } },
          },
        },
      },
    },
    async (_request, reply) => {
      const { contentType, body } = await app.metrics.scrape();
      return reply.type(contentType).send(body);
    },
  );
};
