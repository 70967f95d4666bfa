import { MAX_REFERENCE_IMAGES } from '@glm-image/inference/reference-images';
import { isTerminal } from '@glm-image/shared/generation';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BODY_LIMIT_BYTES } from '../http-edge.ts';
import { sends } from '../openapi/complete-document.ts';
import { principalOf } from '../plugins/auth.ts';
import { generationPath } from '../presenters/generation-presenter.ts';
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

/** A submit body may carry the most reference images, each as large as allowed, base64-encoded. */
export function submitBodyLimit(maxImageBytes: number): number {
  return BODY_LIMIT_BYTES + MAX_REFERENCE_IMAGES * Math.ceil(maxImageBytes / 3) * 4;
}

/** Location always; Preference-Applied when a wait was honoured; Idempotent-Replayed on a replay. */
const SUBMIT_HEADERS = ['Location', 'Preference-Applied', 'Idempotent-Replayed'] as const;

export const generationRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/generations',
    {
      // Reference images may come inline, as base64 data: URLs.
      bodyLimit: submitBodyLimit(app.env.REFERENCE_IMAGE_MAX_BYTES),
      schema: {
        tags: ['generations'],
        operationId: 'createGeneration',
        summary: 'Submit a generation',
        description:
          'Answers 202 with the queued generation, or 200 with the final one when `Prefer: wait=N` ' +
          'saw it finish. With `reference_images` the generation edits them (image-to-image); a reference ' +
          'that is not a usable image, or a URL the policy does not allow, answers 400 naming ' +
          '`reference_images[i]`. With `"decode": false` it stops after the planner: it ends `succeeded` ' +
          'with its preview and stored tokens and no outputs, to be rendered later.',
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
      return reply
        .code(finished ? 200 : 202)
        .send(await app.presenter.present(current, app.env.PUBLIC_API_URL));
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
          app.presenter.present(record, app.env.PUBLIC_API_URL, { withQueuePosition: false }),
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
      return app.presenter.present(record, app.env.PUBLIC_API_URL);
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
      return app.presenter.present(record, app.env.PUBLIC_API_URL);
    },
  );
};
