import { GENERATION_STATUSES, WEBHOOK_EVENTS } from '@glm-image/shared/generation';
import { z } from 'zod';

/**
 * Request and response shapes of the generation resource. These zod schemas are the
 * validator, the TypeScript types and the OpenAPI document at once. Size bounds and
 * defaults come from the model pack at run time, so they are checked in the route.
 */

const METADATA_MAX_BYTES = 4096;

export const OutputFormatSchema = z.enum(['png', 'webp', 'jpeg']);

export const WebhookSchema = z.strictObject({
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
});

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
      .array(z.string())
      .max(4)
      .optional()
      .describe('Image-to-image editing. Not supported yet: any value is answered 400 `unsupported`.'),
  })
  .describe('A text-to-image request. Unknown fields are rejected.');
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
  .describe('Renders the stored semantic tokens of a finished generation again, without the planner.');
export type CreateRenderBody = z.infer<typeof CreateRenderBody>;

export const GenerationIdParams = z.object({ id: z.string().min(1).max(128) });
export const OutputParams = GenerationIdParams.extend({ index: z.coerce.number().int().min(0).max(63) });

export const ListGenerationsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().min(1).max(512).optional(),
});

export const GenerationInputView = z.object({
  prompt: z.string(),
  width: z.number(),
  height: z.number(),
  seed: z.number(),
  steps: z.number(),
  guidance_scale: z.number(),
  temperature: z.number(),
  top_p: z.number(),
  n: z.number(),
  output_format: OutputFormatSchema,
  webhook: z.object({ url: z.string(), events: z.array(z.string()) }).optional(),
  source_generation_id: z.string().optional(),
});

export const WebhookAttemptView = z.object({
  event: z.enum(WEBHOOK_EVENTS),
  webhook_id: z.string().describe('The `webhook-id` header: the same on every attempt of one event.'),
  attempt: z
    .number()
    .describe('1 for the first try of an event; 0 when it was not sent because the endpoint is disabled.'),
  at: z.string().describe('When the attempt started.'),
  status: z.number().optional().describe("The receiver's HTTP status, when it answered."),
  error: z
    .string()
    .optional()
    .describe('Why there was no answer, e.g. `webhook_timeout`, `webhook_target_refused`.'),
  duration_ms: z.number(),
});

export const WebhookDeliveryView = z
  .object({
    url: z.string(),
    events: z.array(z.enum(WEBHOOK_EVENTS)),
    deliveries: z.number().describe('Attempts the receiver answered with a 2xx.'),
    last_status: z
      .union([z.number(), z.string()])
      .nullable()
      .describe("The last attempt's HTTP status, or its error code; null before the first attempt."),
    attempts: z.array(WebhookAttemptView).describe('Every delivery attempt, oldest first (the last 100).'),
  })
  .describe('Where this generation sends webhooks and what happened to each delivery attempt.');
export type WebhookDeliveryView = z.infer<typeof WebhookDeliveryView>;

export const GenerationView = z
  .object({
    id: z.string(),
    status: z.enum(GENERATION_STATUSES),
    created_at: z.string(),
    started_at: z.string().optional(),
    completed_at: z.string().optional(),
    input: GenerationInputView,
    progress: z.object({
      stage: z.enum(['queued', 'planning', 'decoding', 'uploading']),
      step: z.number().optional(),
      total: z.number().optional(),
    }),
    queue_position: z.number().optional().describe('1-based place in the plan queue while queued.'),
    cancel_requested: z.boolean().optional(),
    preview: z.object({ url: z.string(), width: z.number(), height: z.number() }).optional(),
    outputs: z.array(
      z.object({
        url: z.string(),
        width: z.number(),
        height: z.number(),
        format: OutputFormatSchema,
        bytes: z.number(),
        sha256: z.string(),
      }),
    ),
    timings: z.object({
      queued_ms: z.number().optional(),
      plan_ms: z.number().optional(),
      decode_ms: z.number().optional(),
      upload_ms: z.number().optional(),
      total_ms: z.number().optional(),
    }),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    webhook: WebhookDeliveryView.optional().describe(
      'Present when the request asked for webhooks. Answers of the API only; webhook bodies leave it out.',
    ),
    urls: z.object({ self: z.string(), events: z.string(), cancel: z.string() }),
  })
  .describe('A generation.');
export type GenerationView = z.infer<typeof GenerationView>;

export const GenerationList = z.object({
  items: z.array(GenerationView),
  next_cursor: z.string().nullable(),
});

export const ErrorBody = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .describe('Every error has this shape.');

/** The standard error responses, for the OpenAPI document. */
export function errorResponses<const S extends readonly number[]>(...statuses: S) {
  return Object.fromEntries(statuses.map((status) => [status, ErrorBody])) as Record<
    S[number],
    typeof ErrorBody
  >;
}
