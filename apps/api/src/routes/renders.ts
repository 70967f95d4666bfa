import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { sends } from '../openapi/complete-document.ts';
import { principalOf } from '../plugins/auth.ts';
import { generationPath } from '../presenters/generation-presenter.ts';
import {
  CreateRenderBody,
  errorResponses,
  GenerationIdParams,
  GenerationView,
} from '../schemas/generation.ts';

export const renderRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/v1/generations/:id/renders',
    {
      schema: {
        tags: ['generations'],
        operationId: 'createRender',
        summary: 'Render a finished generation again',
        description:
          "Decodes the source generation's stored semantic tokens again with new decoder settings " +
          '(seed, steps, guidance_scale, n, output_format, or another size with the same aspect ratio), ' +
          'without running the planner. Answers a new generation whose `input.source_generation_id` names ' +
          'the source; 409 `source_not_renderable` when the source has not succeeded.',
        security: [{ bearerAuth: [] }],
        params: GenerationIdParams,
        body: CreateRenderBody.nullish(),
        response: { 202: GenerationView, ...errorResponses(400, 404, 409, 413, 415, 503) },
        ...sends({ 202: ['Location'] }),
      },
    },
    async (request, reply) => {
      const record = await app.renders.render(principalOf(request), request.params.id, request.body ?? {});
      reply.header('location', generationPath(record.id));
      return reply.code(202).send(await app.presenter.present(record, app.env.PUBLIC_API_URL));
    },
  );
};
