/**
 * Every response header the API sends that a client may act on, as the OpenAPI
 * document's `components.headers`. Whether a header is `required` is a property of the
 * header itself here: each is either always sent on the responses that list it or only
 * under a condition its description names.
 */

interface HeaderObject {
  description: string;
  required: boolean;
  schema: { type: 'string' | 'integer'; enum?: readonly string[]; minimum?: number };
}

export const RESPONSE_HEADERS = {
  Location: {
    description:
      'The path of the generation this answer is about (`/v1/generations/{id}`); for feedback, the ' +
      'generation it was given on.',
    required: true,
    schema: { type: 'string' },
  },
  'Preference-Applied': {
    description:
      'Sent when a `Prefer: wait=<seconds>` was honoured: the wait that was applied, as `wait=<seconds>`.',
    required: false,
    schema: { type: 'string' },
  },
  'Idempotent-Replayed': {
    description:
      'Sent as `true` when the answer replays what an earlier request with the same `Idempotency-Key` ' +
      'and body created (a generation, or a piece of feedback).',
    required: false,
    schema: { type: 'string', enum: ['true'] },
  },
  'X-RateLimit-Limit': {
    description:
      "The key's budget of requests per window (reads and writes count apart). Absent while the " +
      'rate limiter cannot reach Redis.',
    required: false,
    schema: { type: 'integer', minimum: 0 },
  },
  'X-RateLimit-Remaining': {
    description: 'Requests left in the current window.',
    required: false,
    schema: { type: 'integer', minimum: 0 },
  },
  'X-RateLimit-Reset': {
    description: 'Seconds until the current window ends.',
    required: false,
    schema: { type: 'integer', minimum: 0 },
  },
  'Retry-After': {
    description: 'Seconds to wait before sending the request again.',
    required: true,
    schema: { type: 'integer', minimum: 0 },
  },
  'WWW-Authenticate': {
    description: 'The authentication scheme to use: `Bearer` with an API key.',
    required: true,
    schema: { type: 'string' },
  },
  'Cache-Control': {
    description:
      'Images never change under their URL, so clients may keep them (`private, max-age=86400, immutable`); ' +
      'event streams are not to be cached or transformed (`no-cache, no-transform`); the training export ' +
      'is not to be stored (`no-store`).',
    required: true,
    schema: { type: 'string' },
  },
} as const satisfies Record<string, HeaderObject>;

export type ResponseHeaderName = keyof typeof RESPONSE_HEADERS;

/** Sent with every answer that went through the per-key rate limiter. */
export const RATE_LIMIT_HEADERS: readonly ResponseHeaderName[] = [
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'X-RateLimit-Reset',
];
