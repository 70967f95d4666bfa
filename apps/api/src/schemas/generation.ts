import { MAX_REFERENCE_IMAGES } from '@glm-image/inference/reference-images';
import { OUTPUT_FORMATS } from '@glm-image/shared/formats';
import { WEBHOOK_EVENTS } from '@glm-image/shared/generation';
import { GenerationView as PublicGenerationView } from '@glm-image/shared/public-generation';
import { z } from 'zod';
import { ERROR_SCHEMA_ID, GENERATION_SCHEMA_ID } from '../openapi/complete-document.ts';

/** The generation object; its id names it in the OpenAPI document (and so in generated clients). */
export const GenerationView = PublicGenerationView.meta({ id: GENERATION_SCHEMA_ID });

/**
 * Request and response shapes of the generation resource. These zod schemas are the
 * validator, the TypeScript types and the OpenAPI document at once. Size bounds and
 * defaults come from the model pack at run time, so they are checked in the route.
 */

const METADATA_MAX_BYTES = 4096;

export const OutputFormatSchema = z.enum(OUTPUT_FORMATS).meta({ id: 'OutputFormat' });

export const WebhookSchema = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .max(2048)
      .describe('Where Standard Webhooks deliveries are sent.'),
    events: z
      .array(z.enum(WEBHOOK_EVENTS))
      .min(1)
      .max(WEBHOOK_EVENTS.length)
      .optional()
      .describe('Events to deliver; defaults to the terminal ones.'),
  })
  .describe(
    'Standard Webhooks deliveries of this generation. Refused (400) for a tenant without a signing secret.',
  )
  .meta({ id: 'WebhookSubscription' });

export const MetadataSchema = z
  .record(z.string(), z.unknown())
  .refine((value) => Buffer.byteLength(JSON.stringify(value)) <= METADATA_MAX_BYTES, {
    error: `must serialize to at most ${METADATA_MAX_BYTES} bytes`,
  })
  .describe('Free-form object (at most 4 KB as JSON), echoed back.');

const dimension = z.int().positive().describe('Pixels; a multiple of 32 within the model pack bounds.');

export const CreateGenerationBody = z
  .strictObject({
    prompt: z.string().min(1).max(4000).describe('Quoted spans are rendered as text.'),
    width: dimension.optional(),
    height: dimension.optional(),
    seed: z.int().min(0).max(4_294_967_295).optional().describe('Random when absent.'),
    steps: z.int().min(1).max(100).optional(),
    guidance_scale: z.number().min(0).max(20).optional(),
    temperature: z.number().gt(0).max(2).optional(),
    top_p: z.number().gt(0).max(1).optional(),
    n: z.int().min(1).max(4).optional(),
    output_format: OutputFormatSchema.optional(),
    webhook: WebhookSchema.optional(),
    metadata: MetadataSchema.optional(),
    reference_images: z
      .array(z.string().min(1))
      .min(1)
      .max(MAX_REFERENCE_IMAGES, { error: `at most ${MAX_REFERENCE_IMAGES} reference images` })
      .optional()
      .describe(
        'Image-to-image editing: up to 4 images the generation follows (its layout, and what the prompt ' +
          'does not change). Each is a `data:` URL (`data:image/png;base64,...`; PNG, JPEG or WebP, the ' +
          "type read from the bytes) or the URL of one of your images this deployment stores (an output's, " +
          "a preview's or a reference's URL as the API gave it). Each is scaled to cover the output size and " +
          'cropped from the centre. Limits: REFERENCE_IMAGE_MAX_BYTES (8 MiB by default), 64 to 4096 pixels a ' +
          'side. A problem answers 400 naming `reference_images[i]`.',
      ),
    decode: z
      .boolean()
      .optional()
      .describe(
        'Default true. false: plan only. The generation ends `succeeded` after the planner with its ' +
          'preview and stored semantic tokens and no outputs; `POST /v1/generations/{id}/renders` decodes it ' +
          'later, as often as wanted.',
      ),
  })
  .describe('A text-to-image or image-to-image request. Unknown fields are rejected.')
  .meta({ id: 'CreateGenerationRequest' });
export type CreateGenerationBody = z.infer<typeof CreateGenerationBody>;

export const CreateRenderBody = z
  .strictObject({
    width: dimension.optional().describe('Defaults to the source size; must keep its aspect ratio.'),
    height: dimension.optional(),
    seed: z.int().min(0).max(4_294_967_295).optional(),
    steps: z.int().min(1).max(100).optional(),
    guidance_scale: z.number().min(0).max(20).optional(),
    n: z.int().min(1).max(4).optional(),
    output_format: OutputFormatSchema.optional(),
    webhook: WebhookSchema.optional(),
    metadata: MetadataSchema.optional(),
  })
  .describe(
    'Renders the stored semantic tokens of a finished generation again, without the planner (with its ' +
      'reference images, when it had any).',
  )
  .meta({ id: 'CreateRenderRequest' });
export type CreateRenderBody = z.infer<typeof CreateRenderBody>;

export const GenerationIdParams = z.object({ id: z.string().min(1).max(128) });
export const OutputParams = GenerationIdParams.extend({ index: z.coerce.number().int().min(0).max(63) });

export const ListGenerationsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(512).optional(),
});

export const GenerationList = z
  .object({
    items: z.array(GenerationView),
    next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
  })
  .meta({ id: 'GenerationList' });

export const ErrorBody = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .describe('Every error has this shape.')
  .meta({ id: ERROR_SCHEMA_ID });

/** An image streamed as it is stored, in one of `mediaTypes`. */
export function ImageResponse(description: string, mediaTypes: readonly string[]) {
  const bytes = z.string().meta({ format: 'binary' }).describe('The image bytes.');
  return {
    description,
    content: Object.fromEntries(mediaTypes.map((type) => [type, { schema: bytes }])),
  };
}

/** The standard error responses, for the OpenAPI document. */
export function errorResponses<const S extends readonly number[]>(...statuses: S) {
  return Object.fromEntries(statuses.map((status) => [status, ErrorBody])) as Record<
    S[number],
    typeof ErrorBody
  >;
}
