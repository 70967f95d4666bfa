import { isTerminal } from '@glm-image/shared/generation';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { sends } from '../openapi/complete-document.ts';
import { principalOf } from '../plugins/auth.ts';
import { baseUrlOf, generationPath } from '../presenters/generation-presenter.ts';
import {
  CreateGenerationBody,
  errorResponses,
  GenerationIdParams,
  GenerationList,
  GenerationView,
  ListGenerationsQuery,
} from '../schemas/generation.ts';
import { parsePreferWait } from '../services/prefer.ts';

/** Submit, read, list and cancel generations. */

const SubmitHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .optional()
    .describe('Same key and body within 24 h returns the first generation; a different body answers 409.'),
  prefer: z
    .string()
    .optional()
    .describe('`wait=<seconds ≤ 60>` holds the response until the generation ends or the wait runs out.'),
});

const security = [{ bearerAuth: [] }];

/** Location always; Preference-Applied when a wait was honoured; Idempotent-Replayed on a replay. */
const SUBMIT_HEADERS = ['Location', 'Preference-Applied', 'Idempotent-Replayed'] as const;

export const generationRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/generations',
    {
      schema: {
        tags: ['generations'],
        operationId: 'createGeneration',
        summary: 'Submit a generation',
        description:
          'Answers 202 with the queued generation, or 200 with the final one when `Prefer: wait=N` ' +
          'saw it finish. `reference_images` (image-to-image) is not supported yet and answers 400 `unsupported`.',
        security,
        headers: SubmitHeaders,
        body: CreateGenerationBody,
        response: {
          200: GenerationView,
          202: GenerationView,
          ...errorResponses(400, 409, 413, 415, 503),
        },
        ...sends({ 200: SUBMIT_HEADERS, 202: SUBMIT_HEADERS }),
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const wait = parsePreferWait(request.headers.prefer);
      const { record, created } = await app.admission.submit(
        principal,
        request.body,
        request.headers['idempotency-key'],
      );
      let current = record;
      if (wait !== null && wait > 0) {
        reply.header('preference-applied', `wait=${wait}`);
        if (!isTerminal(record.status)) {
          const aborted = new AbortController();
          reply.raw.once('close', () => aborted.abort());
          current = (await app.reads.waitForEnd(record.id, wait, aborted.signal)) ?? record;
        }
      }
      if (!created) reply.header('idempotent-replayed', 'true');
      reply.header('location', generationPath(record.id));
      const finished = isTerminal(current.status) && (wait !== null || !created);
      return reply.code(finished ? 200 : 202).send(await app.presenter.present(current, baseUrlOf(request)));
    },
  );

  app.get(
    '/v1/generations',
    {
      schema: {
        tags: ['generations'],
        operationId: 'listGenerations',
        summary: "The caller's generations, newest first",
        security,
        querystring: ListGenerationsQuery,
        response: { 200: GenerationList, ...errorResponses(400, 503) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const page = await app.store.listByTenant(principal.tenant, {
        limit: request.query.limit,
        cursor: request.query.cursor ?? null,
      });
      const items = await Promise.all(
        page.items.map((record) =>
          app.presenter.present(record, baseUrlOf(request), { withQueuePosition: false }),
        ),
      );
      return { items, next_cursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/generations/:id',
    {
      schema: {
        tags: ['generations'],
        operationId: 'getGeneration',
        summary: 'Read a generation',
        security,
        params: GenerationIdParams,
        response: { 200: GenerationView, ...errorResponses(400, 404, 503) },
      },
    },
    async (request) => {
      const record = await app.reads.find(principalOf(request), request.params.id);
      return app.presenter.present(record, baseUrlOf(request));
    },
  );

  app.post(
    '/v1/generations/:id/cancel',
    {
      schema: {
        tags: ['generations'],
        operationId: 'cancelGeneration',
        summary: 'Cancel a generation',
        description:
          'A queued generation is canceled at once; a running one stops within one model step ' +
          '(`cancel_requested` is true until it does). Canceling a finished one returns its final state.',
        security,
        params: GenerationIdParams,
        response: { 200: GenerationView, ...errorResponses(400, 404, 413, 415, 503) },
      },
    },
    async (request) => {
      const record = await app.cancellation.cancel(principalOf(request), request.params.id);
      return app.presenter.present(record, baseUrlOf(request));
    },
  );
};
