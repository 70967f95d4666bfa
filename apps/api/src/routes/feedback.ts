import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { sends } from '../openapi/complete-document.ts';
import { principalOf } from '../plugins/auth.ts';
import { generationPath } from '../presenters/generation-presenter.ts';
import { CreateFeedbackBody, FeedbackSchema } from '../schemas/feedback.ts';
import { errorResponses, GenerationIdParams } from '../schemas/generation.ts';

/** A person's feedback on a generation; it shows on the generation as `feedback`. */

const FeedbackHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .optional()
    .describe(
      'Same key and body within 24 h returns the first feedback (200); a different body answers 409.',
    ),
});

/** Location (the generation) always; Idempotent-Replayed on a replay. */
const FEEDBACK_HEADERS = ['Location', 'Idempotent-Replayed'] as const;

export const feedbackRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/generations/:id/feedback',
    {
      schema: {
        tags: ['feedback'],
        operationId: 'createFeedback',
        summary: 'Give feedback on a generation',
        description:
          'Rates a succeeded generation (1 to 5), labels what is wrong with it (`text_wrong`, `layout_wrong`, ' +
          '`bad_hands`, `artifacts`, …), comments on it, and for a generation of several images says which ' +
          'one was preferred; `stage` says whether it is about the plan, the images or both. Answers 201 with ' +
          'the stored feedback, which also shows on the generation. 409 `not_rateable` while the generation ' +
          'has not succeeded; 409 `feedback_limit_reached` once it holds 20 pieces of feedback.',
        security: [{ bearerAuth: [] }],
        headers: FeedbackHeaders,
        params: GenerationIdParams,
        body: CreateFeedbackBody,
        response: {
          200: FeedbackSchema,
          201: FeedbackSchema,
          ...errorResponses(400, 404, 409, 413, 415, 503),
        },
        ...sends({ 200: FEEDBACK_HEADERS, 201: FEEDBACK_HEADERS }),
      },
    },
    async (request, reply) => {
      const given = await app.feedback.give(
        principalOf(request),
        request.params.id,
        request.body,
        request.headers['idempotency-key'],
      );
      reply.header('location', generationPath(given.record.id));
      if (!given.created) reply.header('idempotent-replayed', 'true');
      return reply.code(given.created ? 201 : 200).send(given.feedback);
    },
  );
};
