/**
 * What the OpenAPI document says about every operation at once, added after
 * @fastify/swagger has built it from the route schemas: the rules of the `/v1` scope
 * (a key is required, answers carry the rate-limit headers, 401 and 429 can always
 * happen), the errors any route may answer before it runs, the headers each route
 * declared with `sends()`, optional request bodies, and the webhook deliveries. Routes
 * declare what is theirs; what belongs to the scope they are mounted in is said once, here.
 */
import { STATUS_CODES } from 'node:http';
import { WEBHOOK_EVENTS } from '@glm-image/shared/generation';
import { RATE_LIMIT_HEADERS, RESPONSE_HEADERS, type ResponseHeaderName } from './headers.ts';

/** Where a route lists the headers of its own responses (copied into the operation by @fastify/swagger). */
export const RESPONSE_HEADERS_EXTENSION = 'x-response-headers';

export type ResponseHeadersByStatus = Partial<Record<number, readonly ResponseHeaderName[]>>;

declare module 'fastify' {
  interface FastifySchema {
    [RESPONSE_HEADERS_EXTENSION]?: ResponseHeadersByStatus;
  }
}

/** The headers a route sends on its own answers, by status: `...sends({ 202: ['Location'] })`. */
export function sends(headers: ResponseHeadersByStatus): {
  [RESPONSE_HEADERS_EXTENSION]: ResponseHeadersByStatus;
} {
  return { [RESPONSE_HEADERS_EXTENSION]: headers };
}

type Json = Record<string, unknown>;
interface ResponseObject {
  description: string;
  headers?: Record<string, unknown>;
  content?: Record<string, { schema?: Json }>;
}
interface OperationObject {
  security?: Array<Record<string, unknown>>;
  requestBody?: { required?: boolean; content: Record<string, { schema?: Json }> };
  responses: Record<string, ResponseObject>;
  [RESPONSE_HEADERS_EXTENSION]?: ResponseHeadersByStatus;
}
export interface OpenApiDocument {
  components?: Json & { schemas?: Record<string, Json>; headers?: Record<string, unknown> };
  paths?: Record<string, Record<string, OperationObject>>;
  webhooks?: Record<string, unknown>;
  [key: string]: unknown;
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
export const ERROR_SCHEMA_ID = 'Error';
export const GENERATION_SCHEMA_ID = 'Generation';
const errorSchema = { $ref: `#/components/schemas/${ERROR_SCHEMA_ID}` };
const headerRef = (name: ResponseHeaderName) => ({ $ref: `#/components/headers/${name}` });

function errorResponse(description: string, headers: readonly ResponseHeaderName[] = []): ResponseObject {
  const response: ResponseObject = {
    description,
    content: { 'application/json': { schema: errorSchema } },
  };
  if (headers.length > 0) response.headers = Object.fromEntries(headers.map((h) => [h, headerRef(h)]));
  return response;
}

/** Errors answered before any route runs, on every path: the document's ranges cover them. */
const EDGE_ERRORS: Record<string, ResponseObject> = {
  '4XX': errorResponse(
    'Any other client error, answered before the route runs: a malformed request (400), ' +
      'an `Expect` other than `100-continue` (417), headers too large (431).',
  ),
  '5XX': errorResponse(
    'A server error: 503 `service_unavailable` while the server shuts down or a dependency is down, ' +
      '500 `internal_error` otherwise.',
  ),
};

/** What each error status means, wherever a route answers it. */
const ERROR_DESCRIPTIONS: Record<string, string> = {
  '400': 'Invalid input: the message names the field at fault (`invalid_input`, `unsupported`).',
  '403': 'The key is not an admin key (`forbidden`).',
  '404': 'No such generation, or one of another tenant (`not_found`).',
  '409':
    'A conflict: the Idempotency-Key was used with another body or is still in progress ' +
    '(`idempotency_conflict`), the source generation cannot be rendered (`source_not_renderable`), ' +
    'the generation has not succeeded and takes no feedback yet (`not_rateable`), or it holds as ' +
    'much feedback as it may (`feedback_limit_reached`).',
  '413':
    'The body is larger than the route takes (`payload_too_large`): 1 MiB, and for a submit room besides ' +
    'for four reference images of `REFERENCE_IMAGE_MAX_BYTES` each as base64 `data:` URLs.',
  '415': 'The body is not JSON (`unsupported_media_type`).',
  '503': 'Redis or the object store is unreachable (`service_unavailable`); retry later.',
};

function addHeaders(response: ResponseObject, names: readonly ResponseHeaderName[]): void {
  if (names.length === 0) return;
  response.headers = { ...response.headers };
  for (const name of names) response.headers[name] = headerRef(name);
}

function requiresKey(operation: OperationObject, rootSecurity: unknown): boolean {
  const security = operation.security ?? (rootSecurity as OperationObject['security']) ?? [];
  return security.some((requirement) => Object.keys(requirement).length > 0);
}

/** A body schema of `X | null` means the body may be left out: the JSON parser reads an empty body as none. */
function unwrapOptionalBody(operation: OperationObject): void {
  const body = operation.requestBody;
  if (!body) return;
  for (const media of Object.values(body.content)) {
    const anyOf = media.schema?.['anyOf'];
    if (!Array.isArray(anyOf) || anyOf.length !== 2) continue;
    const nullIndex = anyOf.findIndex((member: Json) => member['type'] === 'null');
    if (nullIndex === -1) continue;
    const { anyOf: _members, ...annotations } = media.schema as Json;
    media.schema = { ...(anyOf[1 - nullIndex] as Json), ...annotations };
    body.required = false;
  }
}

function completeOperation(operation: OperationObject, rootSecurity: unknown): void {
  for (const [status, response] of Object.entries(operation.responses)) {
    // @fastify/swagger's placeholder for responses whose schema has no description.
    if (response.description === 'Default Response') {
      response.description = ERROR_DESCRIPTIONS[status] ?? STATUS_CODES[status] ?? status;
    }
  }
  const ownHeaders = operation[RESPONSE_HEADERS_EXTENSION] ?? {};
  delete operation[RESPONSE_HEADERS_EXTENSION];
  for (const [status, names] of Object.entries(ownHeaders)) {
    const response = operation.responses[status];
    if (!response)
      throw new Error(`headers declared for status ${status}, which the operation does not answer`);
    addHeaders(response, names ?? []);
  }
  unwrapOptionalBody(operation);

  if (requiresKey(operation, rootSecurity)) {
    const { responses } = operation;
    // Everything that got past the key went through the rate limiter.
    for (const [status, response] of Object.entries(responses)) {
      if (/^\d+$/.test(status)) addHeaders(response, RATE_LIMIT_HEADERS);
    }
    responses['401'] = errorResponse('No key, or a key the API does not know.', ['WWW-Authenticate']);
    responses['429'] = errorResponse(
      "Over the key's rate limit (with the rate-limit headers), over the tenant's generations in " +
        'flight, or too many failed authentications from this address.',
      ['Retry-After', ...RATE_LIMIT_HEADERS],
    );
  }
  for (const [range, response] of Object.entries(EDGE_ERRORS)) operation.responses[range] ??= response;
}

/** Standard Webhooks deliveries, one per event a generation can send. */
function webhookDeliveries(): Record<string, unknown> {
  return Object.fromEntries(
    WEBHOOK_EVENTS.map((event) => [
      event,
      {
        post: {
          operationId: `webhook.${event}`,
          summary: `The ${event} webhook`,
          description:
            'Signed per Standard Webhooks: `webhook-id` (stable across retries), `webhook-timestamp`, ' +
            '`webhook-signature` (`v1,<base64 HMAC-SHA256>` with the tenant secret). Only a 2xx counts ' +
            'as delivered; 410 disables the endpoint.',
          security: [],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['type', 'timestamp', 'data'],
                  additionalProperties: false,
                  properties: {
                    type: { type: 'string', enum: [event] },
                    timestamp: { type: 'string', description: 'When the event happened (ISO 8601).' },
                    data: {
                      $ref: `#/components/schemas/${GENERATION_SCHEMA_ID}`,
                      description: 'The generation object, without its `webhook` delivery log.',
                    },
                  },
                },
              },
            },
          },
          responses: {
            '2XX': { description: 'Delivered.' },
            '410': { description: 'The endpoint is gone: no further deliveries are sent to it.' },
            default: {
              description: 'Not delivered: retried with exponential backoff, honouring Retry-After.',
            },
          },
        },
      },
    ]),
  );
}

/** Every `#/components/schemas/<id>` that `value` refers to, directly or through other components. */
function referencedSchemas(
  value: unknown,
  schemas: Record<string, Json>,
  found = new Set<string>(),
): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) referencedSchemas(item, schemas, found);
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const id =
        key === '$ref' && typeof item === 'string'
          ? /^#\/components\/schemas\/(.+)$/.exec(item)?.[1]
          : undefined;
      if (id !== undefined && !found.has(id)) {
        found.add(id);
        referencedSchemas(schemas[id], schemas, found);
      } else {
        referencedSchemas(item, schemas, found);
      }
    }
  }
  return found;
}

/**
 * fastify-type-provider-zod writes every registered schema twice, as it is read
 * (`<id>Input`) and as it is written (`<id>`). Only the variants some operation uses
 * stay, and an input variant whose output twin is unused takes the plain name, so
 * generated clients get `CreateGenerationRequest`, not `CreateGenerationRequestInput`.
 */
function tidySchemas(document: OpenApiDocument): void {
  const schemas = document.components?.schemas ?? {};
  const used = referencedSchemas({ paths: document.paths, webhooks: document.webhooks }, schemas);
  const renames = new Map<string, string>();
  for (const id of used) {
    const plain = id.endsWith('Input') ? id.slice(0, -'Input'.length) : null;
    if (plain && !used.has(plain)) renames.set(`#/components/schemas/${id}`, `#/components/schemas/${plain}`);
  }
  const rename = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rename);
    if (!value || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        key === '$ref' && typeof item === 'string' ? (renames.get(item) ?? item) : rename(item),
      ]),
    );
  };
  const kept = Object.fromEntries(
    [...used]
      .sort()
      .map((id) => [renames.get(`#/components/schemas/${id}`)?.split('/').pop() ?? id, schemas[id]]),
  );
  document.paths = rename(document.paths) as OpenApiDocument['paths'];
  document.webhooks = rename(document.webhooks) as OpenApiDocument['webhooks'];
  document.components = { ...document.components, schemas: rename(kept) as Record<string, Json> };
}

export function completeDocument(document: OpenApiDocument): OpenApiDocument {
  document.components = { ...document.components, headers: { ...RESPONSE_HEADERS } };
  for (const pathItem of Object.values(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(pathItem)) {
      if (HTTP_METHODS.has(method)) completeOperation(operation, document['security']);
    }
  }
  document.webhooks = webhookDeliveries();
  tidySchemas(document);
  return document;
}
