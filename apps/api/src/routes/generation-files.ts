import { NotFoundError } from '@glm-image/shared/errors';
import { CONTENT_TYPES } from '@glm-image/shared/formats';
import type { ObjectStore } from '@glm-image/shared/storage';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { sends } from '../openapi/complete-document.ts';
import { principalOf } from '../plugins/auth.ts';
import { errorResponses, GenerationIdParams, ImageResponse, OutputParams } from '../schemas/generation.ts';

/**
 * Streams a generation's images from the object store through the API, so clients get
 * them even when the bucket is not reachable from outside.
 */

const OUTPUT_MEDIA_TYPES = Object.values(CONTENT_TYPES);

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
        operationId: 'getGenerationOutput',
        summary: 'Download one output image',
        security: [{ bearerAuth: [] }],
        params: OutputParams,
        response: {
          200: ImageResponse('The image, in the format the generation asked for.', OUTPUT_MEDIA_TYPES),
          ...errorResponses(400, 404, 503),
        },
        ...sends({ 200: ['Cache-Control'] }),
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
        operationId: 'getGenerationReference',
        summary: 'Download one reference image',
        description: 'A reference image of an image-to-image request, as stored with the generation.',
        security: [{ bearerAuth: [] }],
        params: OutputParams,
        response: {
          200: ImageResponse(
            'The reference image, in the format it was given (PNG, JPEG or WebP).',
            OUTPUT_MEDIA_TYPES,
          ),
          ...errorResponses(400, 404, 503),
        },
        ...sends({ 200: ['Cache-Control'] }),
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
        operationId: 'getGenerationPreview',
        summary: 'Download the layout preview',
        security: [{ bearerAuth: [] }],
        params: GenerationIdParams,
        response: {
          200: ImageResponse('The layout preview the planner drew, as PNG.', ['image/png']),
          ...errorResponses(400, 404, 503),
        },
        ...sends({ 200: ['Cache-Control'] }),
      },
    },
    async (request, reply) => {
      const record = await app.reads.find(principalOf(request), request.params.id);
      if (!record.preview) throw new NotFoundError(`Generation ${record.id} has no preview yet`);
      return streamObject(app.objects, reply, record.preview.key);
    },
  );
};
