/**
 * Names for the API's types. Every one is read off the generated document types
 * (generated/openapi.ts), by operation, so a field the API adds reaches these types by
 * running `npm run generate:client`, with no edit here.
 */
import type { components, operations, paths, webhooks } from './generated/openapi.ts';

export type { components, operations, paths, webhooks };

type JsonBody<T> = T extends { content: { 'application/json': infer Body } } ? Body : never;
type JsonResponse<Operation, Status extends number> = Operation extends {
  responses: { [S in Status]: infer Response };
}
  ? JsonBody<Response>
  : never;

/** A generation: status, progress, preview, outputs, timings, error. */
export type Generation = JsonResponse<operations['getGeneration'], 200>;
export type GenerationStatus = Generation['status'];
export type GenerationOutput = Generation['outputs'][number];
/** One page of `list`. */
export type GenerationPage = JsonResponse<operations['listGenerations'], 200>;
/** The body of a submit. */
export type CreateGenerationRequest = JsonBody<operations['createGeneration']['requestBody']>;
/** The body of a re-render: every field optional. */
export type CreateRenderRequest = JsonBody<NonNullable<operations['createRender']['requestBody']>>;
export type OutputFormat = NonNullable<CreateGenerationRequest['output_format']>;
/** The API's error body. */
export type ErrorBody = components['schemas']['Error'];

type WebhookBody<Name extends keyof webhooks> = webhooks[Name] extends { post: infer Operation }
  ? Operation extends { requestBody: infer Body }
    ? JsonBody<Body>
    : never
  : never;
/** A webhook delivery's body, by event type. */
export type WebhookEvent = { [Name in keyof webhooks]: WebhookBody<Name> }[keyof webhooks];
export type WebhookEventType = WebhookEvent['type'];

export const TERMINAL_STATUSES: ReadonlySet<GenerationStatus> = new Set(['succeeded', 'failed', 'canceled']);

export function isTerminal(status: GenerationStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}
