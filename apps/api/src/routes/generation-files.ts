import { NotFoundError } from '@glm-image/shared/errors';
import type { ObjectStore } from '@glm-image/shared/storage';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { principalOf } from '../plugins/auth.ts';
import { errorResponses, GenerationIdParams, OutputParams } from '../schemas/generation.ts';

/**
 * Streams a generation's images from the object store through the API, so clients get
 * them even when the bucket is not reachable from outside.
 */

async function streamObject(objects: ObjectStore, reply: FastifyReply, key: string) {
  const object = await objects.get(key);
  reply.header('content-type', object.contentType);
  if (object.contentLength > 0) reply.header('content-length', object.contentLength);
  // Keys never change content: an output is written once under its own key.
  reply.header('cache-control', 'private, max-age=86400, immutable');
  return reply.send(object.body);
}

export const generationFileRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/generations/:id/outputs/:index',
    {
      schema: {
        tags: ['generations'],
        summary: 'Download one output image',
        security: [{ bearerAuth: [] }],
        params: OutputParams,
        response: { ...errorResponses(400, 401, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      const record = await app.reads.find(principalOf(request), request.params.id);
      const output = record.outputs[request.params.index];
      if (!output) throw new NotFoundError(`Generation ${record.id} has no output ${request.params.index}`);
      return streamObject(app.objects, reply, output.key);
    },
  );

  app.get(
    '/v1/generations/:id/references/:index',
    {
      schema: {
        tags: ['generations'],
        summary: 'Download one reference image',
        description: 'A reference image of an image-to-image request, as stored with the generation.',
        security: [{ bearerAuth: [] }],
        params: OutputParams,
        response: { ...errorResponses(400, 401, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      const record = await app.reads.find(principalOf(request), request.params.id);
      const reference = record.input.reference_images?.[request.params.index];
      if (!reference) {
        throw new NotFoundError(`Generation ${record.id} has no reference image ${request.params.index}`);
      }
      return streamObject(app.objects, reply, reference.key);
    },
  );

  app.get(
    '/v1/generations/:id/preview',
    {
      schema: {
        tags: ['generations'],
        summary: 'Download the layout preview',
        security: [{ bearerAuth: [] }],
        params: GenerationIdParams,
        response: { ...errorResponses(401, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      const record = await app.reads.find(principalOf(request), request.params.id);
      if (!record.preview) throw new NotFoundError(`Generation ${record.id} has no preview yet`);
      return streamObject(app.objects, reply, record.preview.key);
    },
  );
};
