import { Readable } from 'node:stream';
import { decodeExportCursor, TRAINING_EXPORT_CONTENT_TYPE } from '@glm-image/shared/training-export';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { sends } from '../openapi/complete-document.ts';
import { ForbiddenError, principalOf } from '../plugins/auth.ts';
import { ExportQuery } from '../schemas/feedback.ts';
import { errorResponses } from '../schemas/generation.ts';

/**
 * The training export, for admin keys: JSONL streamed as rows are made, so memory stays
 * flat however much is exported. Everything that can be refused (the key, the query,
 * the cursor) is checked before the first byte; a failure after it ends the stream
 * early, and the last row's cursor resumes from where it stopped.
 */
export const trainingExportRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/v1/feedback/export',
    {
      schema: {
        tags: ['feedback'],
        operationId: 'exportTrainingRows',
        summary: 'Export per-stage training rows (admin keys)',
        description:
          'One JSON object per line (`application/x-ndjson`): for `stage=plan` planner rows, for ' +
          '`stage=decode` decoder rows and preference pairs, of the generations scored or given feedback, ' +
          'in the order that last happened. Each row carries a `cursor`; pass the last one back to continue. ' +
          'A generation annotated again is exported again under the same row `id`. The row schema is ' +
          'documented in docs/training-export.md. 403 `forbidden` for keys that are not admin keys.',
        security: [{ bearerAuth: [] }],
        querystring: ExportQuery,
        response: {
          200: {
            description: 'The rows, one per line.',
            content: {
              [TRAINING_EXPORT_CONTENT_TYPE]: {
                schema: z.string().describe('JSON Lines: each line one training row.'),
              },
            },
          },
          ...errorResponses(400, 403, 503),
        },
        ...sends({ 200: ['Cache-Control'] }),
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      if (!principal.admin) throw new ForbiddenError('The training export is for admin keys');
      const { stage, since, limit } = request.query;
      const tenant = request.query.tenant ?? principal.tenant;
      const cursor = request.query.cursor
        ? decodeExportCursor(request.query.cursor, { stage, tenant })
        : undefined;
      const rows = app.trainingExport.rows({
        tenant,
        stage,
        limit,
        ...(cursor ? { cursor } : {}),
        ...(since && !cursor ? { sinceMicros: String(Date.parse(since) * 1000) } : {}),
      });
      const lines = async function* () {
        try {
          for await (const row of rows) yield `${JSON.stringify(row)}\n`;
        } catch (error) {
          request.log.warn({ err: error }, 'training export ended early');
          throw error;
        }
      };
      // The body is a stream, which Fastify sends as it is: the schema above documents it only.
      const streaming: FastifyReply = reply;
      return streaming
        .header('content-type', `${TRAINING_EXPORT_CONTENT_TYPE}; charset=utf-8`)
        .header('cache-control', 'no-store')
        .send(Readable.from(lines()));
    },
  );
};
