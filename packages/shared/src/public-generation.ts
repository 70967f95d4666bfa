/**
 * The generation object as clients see it: the API's answers, its event stream and the
 * webhook bodies all carry it, the SDK's types are generated from it. One zod schema is
 * the validator, the TypeScript type and the OpenAPI document at once. How its URLs are
 * built is the API's business (its presenter), not this contract's.
 */
import { z } from 'zod';
import { OUTPUT_FORMATS } from './formats.ts';
import { GENERATION_STATUSES, PROGRESS_STAGES, WEBHOOK_EVENTS } from './generation.ts';
import { FeedbackSchema, GenerationQualitySchema } from './quality.ts';

const OutputFormatSchema = z.enum(OUTPUT_FORMATS);

const ImageView = z.object({
  url: z.string(),
  width: z.number(),
  height: z.number(),
  format: OutputFormatSchema,
  bytes: z.number(),
  sha256: z.string(),
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
  reference_images: z
    .array(ImageView)
    .optional()
    .describe('The reference images of an image-to-image request, as stored with the generation.'),
  decode: z
    .boolean()
    .describe('false: plan only; the generation ends with its preview and stored tokens, no outputs.'),
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
      stage: z.enum(PROGRESS_STAGES),
      step: z.number().optional(),
      total: z.number().optional(),
    }),
    queue_position: z.number().optional().describe('1-based place in the plan queue while queued.'),
    cancel_requested: z.boolean().optional(),
    preview: z.object({ url: z.string(), width: z.number(), height: z.number() }).optional(),
    outputs: z.array(ImageView),
    timings: z.object({
      queued_ms: z.number().optional(),
      plan_ms: z.number().optional(),
      decode_ms: z.number().optional(),
      upload_ms: z.number().optional(),
      total_ms: z.number().optional(),
    }),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    quality: GenerationQualitySchema.optional(),
    feedback: z
      .array(FeedbackSchema)
      .optional()
      .describe('Feedback people gave (`POST …/feedback`), oldest first; absent before the first.'),
    webhook: WebhookDeliveryView.optional().describe(
      'Present when the request asked for webhooks. Answers of the API only; webhook bodies leave it out.',
    ),
    urls: z.object({ self: z.string(), events: z.string(), cancel: z.string() }),
  })
  .describe('A generation.');
export type GenerationView = z.infer<typeof GenerationView>;
/** A generation as webhook bodies carry it: the API's answer without its delivery log. */
export type PublicGeneration = Omit<GenerationView, 'webhook'>;
