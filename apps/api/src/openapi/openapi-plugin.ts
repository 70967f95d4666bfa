import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { completeDocument, type OpenApiDocument } from './complete-document.ts';

/**
 * The OpenAPI document the API serves at `/openapi.json` (and renders at `/docs`),
 * built from the route schemas: zod types become JSON Schema, schemas registered with
 * an id become named components, and completeDocument adds what the /v1 scope says
 * for every route. The client SDK's types are generated from this same document.
 */

export interface OpenApiOptions {
  /** Where clients reach the API (PUBLIC_API_URL): the document's `servers`. */
  serverUrl: string;
}

async function openApi(app: FastifyInstance, options: OpenApiOptions): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'GLM-Image generations API',
        version: '1.0.0',
        description:
          'Text-to-image and image-to-image generations run as a two-stage pipeline (planner, then decoder); ' +
          'a plan-only generation stops after the planner and is decoded later by a render. ' +
          'Errors are always `{ "error": { "code", "message" } }`.',
      },
      servers: [{ url: options.serverUrl.replace(/\/+$/, '') }],
      security: [{ bearerAuth: [] }],
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key.' } },
      },
      tags: [
        { name: 'generations', description: 'Submit, follow, cancel and download generations.' },
        {
          name: 'feedback',
          description: 'Feedback on generations, and the per-stage training export (admin keys).',
        },
        { name: 'operations', description: 'Probes and metrics.' },
      ],
    },
    transform: jsonSchemaTransform,
    transformObject: (documentObject) =>
      completeDocument(jsonSchemaTransformObject(documentObject) as OpenApiDocument) as ReturnType<
        typeof jsonSchemaTransformObject
      >,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

export const openApiPlugin = fp(openApi, { name: 'openapi' });
