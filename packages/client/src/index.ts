/** @glm-image/client: the typed SDK of the GLM-Image API (the `glm-image` command is built on it). */
export {
  type CallOptions,
  type ClientOptions,
  type Download,
  type FeedbackOptions,
  GlmImageClient,
  type SubmitOptions,
  type TrainingExportOptions,
  type WaitOptions,
} from './client.ts';
export {
  ApiError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  ConnectionError,
  EventStreamError,
  GlmImageError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  ServerError,
  ServiceUnavailableError,
} from './errors.ts';
export type { GenerationUpdate } from './event-stream.ts';
export {
  ReferenceImageError,
  type ReferenceMediaType,
  referenceImage,
  referenceImageFromFile,
  referenceMediaType,
} from './reference-images.ts';
export type { RetryEvent, RetryOptions } from './retry.ts';
export * from './types.ts';
export { verifyWebhook, type WebhookHeaders, WebhookVerificationError } from './webhooks.ts';
