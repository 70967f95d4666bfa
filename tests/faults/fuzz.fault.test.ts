/**
 * Hostile input against every route the API serves: the routes come from the OpenAPI
 * document the API itself serves (plus the few it hides), so a new route is fuzzed
 * without anyone listing it here. fast-check makes the requests: random and mutated JSON,
 * wrong types, bodies nested deep and bodies over the limit, unicode edge cases (lone
 * surrogates, NUL, RTL overrides, overlong and invalid UTF-8), bad sizes and ids, header
 * abuse (huge, duplicate and conflicting Content-Length, bad Content-Type, Accept,
 * Idempotency-Key, Last-Event-ID, Prefer, proxy headers), bad query strings, and bytes
 * Node's HTTP parser rejects. Every request goes over a real socket to the API on
 * loopback, backed by a real redis-server and S3 server.
 *
 * What must hold for every one: an answer arrives (no reset, no hang), it is never a 5xx,
 * every error is `{ "error": { "code", "message" } }`, and a body over the limit is a
 * 413 in that format. Afterwards the process still answers its probes, and its logs
 * hold no API key, webhook signing secret or S3 credential.
 *
 *   npx vitest run --config vitest.faults.config.ts tests/faults/fuzz.fault.test.ts
 */
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { REDACTED_LOG_PATHS } from '../../apps/api/src/app.ts';
import { BODY_LIMIT_BYTES } from '../../apps/api/src/http-edge.ts';
import { sha256Hex } from '../../apps/api/src/plugins/auth.ts';
import { submitBodyLimit } from '../../apps/api/src/routes/generations.ts';
import { type ApiStack, KEYS, startApiStack } from '../../apps/api/src/testing/api-stack.ts';
import { seedQueued, seedSucceeded } from '../../apps/api/src/testing/seed-generations.ts';
import { type RawResponse, rawRequest } from '../support/raw-http.ts';

/** Cases per route: 23 routes (14 documented, 9 hidden) make 10,350 requests. */
const RUNS_PER_ROUTE = 450;
/** Fixed, so a failure replays; each route runs from SEED plus its index. */
const SEED = 20_261_207;
/** Small reference images keep the submit route's body limit near the others'. */
const REFERENCE_IMAGE_MAX_BYTES = 65_536;

interface Operation {
  method: string;
  /** OpenAPI path template, `/v1/generations/{id}`. */
  path: string;
  operationId: string;
  pathParams: string[];
  queryParams: string[];
  /** Property names of the JSON body, when the operation takes one. */
  bodyFields: string[] | null;
}

interface FuzzCase {
  head: Buffer;
  body: Buffer;
  /** The request declares more body than it sends: the client half-closes to end it. */
  short: boolean;
  /** Valid key, JSON media type, matched route: a body over the limit must be a 413. */
  mustBeTooLarge: boolean;
  label: string;
}

const logLines: string[] = [];
const statuses = new Map<number, number>();
const byRoute = new Map<string, number>();
let stack: ApiStack;
let port: number;
let operations: Operation[] = [];
const ids = { mine: '', queued: '', theirs: '' };

beforeAll(async () => {
  const logStream = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  // Keys with budgets a fuzz cannot spend, so requests reach the routes rather than the
  // rate limit; `tight` keeps its small one so 429s are fuzzed too.
  const keys = [
    { sha256: sha256Hex(KEYS.acme), tenant: 'acme', rate_per_minute: 1e9, max_in_flight: 1e9 },
    { sha256: sha256Hex(KEYS.globex), tenant: 'globex', rate_per_minute: 1e9, max_in_flight: 1e9 },
    { sha256: sha256Hex(KEYS.admin), tenant: 'ops', admin: true, rate_per_minute: 1e9 },
    { sha256: sha256Hex(KEYS.tight), tenant: 'tight', rate_per_minute: 3, max_in_flight: 2 },
  ];
  stack = await startApiStack({
    env: {
      API_KEYS: JSON.stringify(keys),
      AUTH_FAILURES_PER_MINUTE: '1000000',
      REFERENCE_IMAGE_MAX_BYTES: String(REFERENCE_IMAGE_MAX_BYTES),
      LOG_LEVEL: 'debug',
    },
    // As the API process logs (server.ts), at the most talkative level it is run with.
    logger: {
      level: 'debug',
      redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
      stream: logStream,
    },
  });
  await stack.app.listen({ host: '127.0.0.1', port: 0 });
  port = (stack.app.server.address() as { port: number }).port;
  ids.mine = await seedSucceeded(stack, 'acme');
  ids.queued = await seedQueued(stack, 'acme');
  ids.theirs = await seedSucceeded(stack, 'globex');
  operations = await servedOperations();
});

afterAll(async () => {
  await stack?.close();
});

/** Every operation of the served OpenAPI document, and the routes the document hides. */
async function servedOperations(): Promise<Operation[]> {
  const res = await rawRequest(port, {
    head: 'GET /openapi.json HTTP/1.1\r\nHost: api\r\nConnection: close',
  });
  const doc = JSON.parse(res.body.toString('utf8')) as {
    paths: Record<string, Record<string, OpenApiOperation>>;
    components?: { schemas?: Record<string, { properties?: Record<string, unknown> }> };
  };
  const found: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const parameters = op.parameters ?? [];
      let schema = op.requestBody?.content?.['application/json']?.schema;
      const variants = schema?.anyOf ?? schema?.oneOf;
      if (variants) schema = variants.find((v) => v.$ref || v.properties);
      if (schema?.$ref) schema = doc.components?.schemas?.[schema.$ref.split('/').pop()!];
      found.push({
        method: method.toUpperCase(),
        path,
        operationId: op.operationId ?? `${method} ${path}`,
        pathParams: parameters.filter((p) => p.in === 'path').map((p) => p.name),
        queryParams: parameters.filter((p) => p.in === 'query').map((p) => p.name),
        bodyFields: op.requestBody ? Object.keys(schema?.properties ?? {}) : null,
      });
    }
  }
  const hidden = [
    '/openapi.json',
    '/docs',
    '/docs/static/index.html',
    '/',
    '/playground/app.js',
    '/admin/queues',
    '/admin/queues/api/queues',
    '/admin/queues/api/queues/plan/{id}',
    '/admin/queues/api/redis/stats',
  ];
  for (const path of hidden) {
    found.push({
      method: 'GET',
      path,
      operationId: `GET ${path}`,
      pathParams: path.includes('{id}') ? ['id'] : [],
      queryParams: [],
      bodyFields: null,
    });
  }
  return found;
}

interface OpenApiSchema {
  $ref?: string;
  properties?: Record<string, unknown>;
  anyOf?: OpenApiSchema[];
  oneOf?: OpenApiSchema[];
}
interface OpenApiOperation {
  operationId?: string;
  parameters?: Array<{ in: string; name: string }>;
  requestBody?: { content?: Record<string, { schema?: OpenApiSchema }> };
}

// ---------------------------------------------------------------- arbitraries

/** Strings chosen to break things: control characters, lone surrogates, RTL, huge ones. */
const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom(
    '',
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udfff',
    'x\ud83dy',
    '\u202eevil\u202c',
    '\u200f\u200e',
    '\ufeff',
    'e\u0301\u0301\u0301',
    '𝕏'.repeat(2000),
    'a'.repeat(70_000),
    '../../../../etc/passwd',
    '..%2F..%2F',
    '%00',
    '%zz',
    '<script>alert(1)</script>',
    "' OR 1=1 --",
    `\${jndi:ldap://x}`,
    '{{7*7}}',
    '\r\nX-Injected: 1',
    'null',
    'true',
    '-0',
    '1e309',
  ),
);

const hostileNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -1, -0, 1.5, 2 ** 31, 2 ** 53 + 1, -(2 ** 63), 1e21, 5e-324, Number.MAX_VALUE),
);

const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  { weight: 3, arbitrary: hostileNumber },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}, [null], { '': '' }) },
);

/** A body the operation could take, with some fields replaced, added or dropped. */
function mutatedBody(op: Operation): fc.Arbitrary<unknown> {
  const base: Record<string, unknown> =
    {
      createGeneration: { prompt: 'a fox', width: 512, height: 512 },
      createRender: { seed: 1 },
      createFeedback: { rating: 3 },
    }[op.operationId] ?? {};
  const fields = [...(op.bodyFields ?? []), '__proto__', 'constructor', 'x'];
  return fc
    .tuple(fc.dictionary(fc.constantFrom(...fields), anyValue, { maxKeys: 4 }), fc.boolean())
    .map(([patch, keepBase]) => ({ ...(keepBase ? base : {}), ...patch }));
}

/** `[[[...]]]` or `{"a":{"a":...}}` around a value, as deep as asked. */
const deeplyNested = fc
  .tuple(fc.integer({ min: 20, max: 5000 }), fc.boolean())
  .map(([depth, arrays]) =>
    arrays ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
  );

/** Bytes that are not valid UTF-8, or encode what UTF-8 forbids. */
const BAD_UTF8 = [
  [0xc0, 0xaf], // overlong '/'
  [0xe0, 0x80, 0xaf], // overlong '/', three bytes
  [0xf0, 0x80, 0x80, 0xaf], // overlong '/', four bytes
  [0xed, 0xa0, 0x80], // a lone high surrogate, as WTF-8
  [0xed, 0xbf, 0xbf], // a lone low surrogate
  [0xff, 0xfe], // never valid
  [0x80], // a continuation byte alone
  [0xe2, 0x82], // truncated
  [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
  [0x00],
].map((bytes) => Buffer.from(bytes));

function jsonText(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value) ?? 'null', 'utf8');
}

function bodyArb(op: Operation): fc.Arbitrary<{ body: Buffer; kind: string }> {
  const limit =
    op.operationId === 'createGeneration' ? submitBodyLimit(REFERENCE_IMAGE_MAX_BYTES) : BODY_LIMIT_BYTES;
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant({ body: Buffer.alloc(0), kind: 'none' }) },
    { weight: 8, arbitrary: mutatedBody(op).map((v) => ({ body: jsonText(v), kind: 'mutated' })) },
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => ({ body: jsonText(v), kind: 'json' })) },
    { weight: 1, arbitrary: deeplyNested.map((t) => ({ body: Buffer.from(t), kind: 'deep' })) },
    {
      weight: 2,
      arbitrary: fc.tuple(mutatedBody(op), fc.constantFrom(...BAD_UTF8), fc.nat(40)).map(([v, bad, at]) => {
        const text = jsonText(v);
        const cut = Math.min(at, text.length);
        return { body: Buffer.concat([text.subarray(0, cut), bad, text.subarray(cut)]), kind: 'bad-utf8' };
      }),
    },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(
          '{',
          '{"prompt":',
          '{"prompt":"x"',
          '{"a":1,}',
          "{'prompt':'x'}",
          'NaN',
          '{"prompt":"\\ud800"}',
          '{"prompt":"\\u0000"}',
          '{"prompt":"\\x41"}',
          '{"prompt":1e99999}',
          '\ufeff{"prompt":"x"}',
          '{"prompt":"x"}{"prompt":"y"}',
          '{"__proto__":{"admin":true},"prompt":"x"}',
          '{"prompt":"x","prompt":"y"}',
          `{"prompt":"x","metadata":{${Array.from({ length: 5000 }, (_, i) => `"k${i}":${i}`).join(',')}}}`,
          `{"prompt":"${'\\u202e'.repeat(3000)}"}`,
          `[${'1,'.repeat(100_000)}1]`,
        )
        .map((t) => ({ body: Buffer.from(t, 'utf8'), kind: 'malformed' })),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: limit + 1, max: limit + 512 * 1024 })
        .map((size) => ({ body: Buffer.alloc(size, 0x20), kind: 'over-limit' })),
    },
  );
}

/** An id as a path segment: real ones, another tenant's, and ids mutated to escape. */
function idArb(): fc.Arbitrary<string> {
  const real = fc.constantFrom(ids.mine, ids.queued, ids.theirs);
  return fc.oneof(
    { weight: 6, arbitrary: real },
    {
      weight: 4,
      arbitrary: fc
        .tuple(real, fc.constantFrom(':events', ':webhook', '%3Aevents', '%00', '%2F..', '.', '*', '%20'))
        .map(([id, suffix]) => `${id}${suffix}`),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(real, fc.constantFrom('..%2F', '..%2f..%2fglobex%2f', '%2E%2E%2F', '.%2e/'))
        .map(([id, prefix]) => `${prefix}${id}`),
    },
    {
      weight: 3,
      arbitrary: hostileString.map((s) => encodeURIComponent(toWellFormed(s)).slice(0, 400) || 'x'),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom('%', '%E0%A4%A', '%ZZ', 'g'.repeat(129), 'g'.repeat(128), '%C0%AF'),
    },
  );
}

const indexArb = fc.oneof(
  fc.nat(70).map(String),
  fc.constantFrom(
    '-1',
    '1e3',
    '0x1',
    'NaN',
    'Infinity',
    '..%2F0',
    '0.5',
    '99999999999999999999',
    '%00',
    ' 1',
  ),
);

function toWellFormed(s: string): string {
  return s.replace(/[\ud800-\udfff]/g, '\ufffd');
}

function queryArb(op: Operation): fc.Arbitrary<string> {
  const names = [...op.queryParams, 'limit', 'cursor', 'last_event_id', 'stage', 'since', 'tenant', 'x'];
  const pair = fc
    .tuple(
      fc.constantFrom(...names),
      fc.oneof(
        hostileString.map((s) => encodeURIComponent(toWellFormed(s))),
        indexArb,
      ),
    )
    .map(([k, v]) => `${k}=${v.slice(0, 3000)}`);
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant('') },
    {
      weight: 5,
      arbitrary: fc.array(pair, { minLength: 1, maxLength: 4 }).map((pairs) => `?${pairs.join('&')}`),
    },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '?',
        '?&&&',
        '?limit=1&limit=2',
        '?limit[]=1',
        '?limit[a]=1',
        '?%zz=1',
        '?limit=%E0%A4%A',
        '?cursor=%00',
        `?cursor=${'a'.repeat(10_000)}`,
        `?${Array.from({ length: 2000 }, (_, i) => `p${i}=1`).join('&')}`,
        '?__proto__[admin]=true',
        '?stage=plan&since=not-a-date',
        '?stage=decode&cursor=eyJ9',
        '?tenant=acme&stage=plan',
        '?last_event_id=$',
      ),
    },
  );
}

/** Header lines: mostly sensible, often hostile. The key decides how far a request gets. */
const authArb = fc.oneof(
  { weight: 10, arbitrary: fc.constant(`Authorization: Bearer ${KEYS.acme}`) },
  { weight: 2, arbitrary: fc.constant(`Authorization: Bearer ${KEYS.admin}`) },
  { weight: 2, arbitrary: fc.constant(`Authorization: Bearer ${KEYS.globex}`) },
  { weight: 1, arbitrary: fc.constant(`Authorization: Bearer ${KEYS.tight}`) },
  {
    weight: 1,
    arbitrary: fc.constant(`Authorization: Basic ${Buffer.from(`u:${KEYS.admin}`).toString('base64')}`),
  },
  { weight: 1, arbitrary: fc.constant('') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'Authorization: Bearer',
      'Authorization: Bearer ',
      'Authorization: bearer wrong-key-0123456789',
      `Authorization: Bearer ${KEYS.acme}x`,
      `Authorization: Bearer ${KEYS.acme} ${KEYS.admin}`,
      `Authorization: Token ${KEYS.acme}`,
      'Authorization: Basic !!!notbase64',
      'Authorization: Basic Og==',
      `Authorization: Bearer ${'k'.repeat(8000)}`,
      `Authorization: Bearer ${KEYS.globex}\r\nAuthorization: Bearer ${KEYS.acme}`,
    ),
  },
);

const contentTypeArb = fc.oneof(
  { weight: 8, arbitrary: fc.constant('Content-Type: application/json') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '',
      'Content-Type: application/json; charset=utf-8',
      'Content-Type: APPLICATION/JSON',
      'Content-Type: application/json; charset=latin1',
      'Content-Type: application/json;;;',
      'Content-Type: text/plain',
      'Content-Type: application/x-www-form-urlencoded',
      'Content-Type: multipart/form-data; boundary=xyz',
      'Content-Type: application/xml',
      'Content-Type: application/octet-stream',
      'Content-Type: */*',
      'Content-Type: ',
      'Content-Type: application/json\r\nContent-Type: text/plain',
      'Content-Type: application/jsonx',
      'Content-Type: application/problem+json',
    ),
  },
);

const optionalHeaderArb = fc.constantFrom(
  'Accept: text/event-stream',
  'Accept: application/xml',
  'Accept: image/png',
  'Accept: */*;q=0',
  'Accept: ',
  'Accept: ;;;,,,',
  'Idempotency-Key: ',
  'Idempotency-Key: a',
  `Idempotency-Key: ${'k'.repeat(300)}`,
  'Idempotency-Key: \u00ff\u00fe',
  'Idempotency-Key: a\r\nIdempotency-Key: b',
  'Last-Event-ID: ',
  'Last-Event-ID: 0',
  'Last-Event-ID: $',
  'Last-Event-ID: -1',
  'Last-Event-ID: 99999999999999999999-0',
  'Last-Event-ID: 1-2-3',
  `Last-Event-ID: ${'9'.repeat(100)}`,
  'Prefer: wait=0',
  'Prefer: wait=abc',
  'Prefer: wait=-5',
  // Waits the API honours hold a submit up to 60 s: only ones it refuses or ends at once.
  'Prefer: wait=1.5',
  'Prefer: wait=',
  'Prefer: wait="0", respond-async',
  'X-Forwarded-For: 127.0.0.1, 10.0.0.1',
  'X-Forwarded-Host: evil.example',
  'X-Forwarded-Proto: javascript',
  'X-Request-Id: ',
  `X-Request-Id: ${'r'.repeat(4000)}`,
  'Expect: 100-continue',
  'Expect: teapot',
  'Range: bytes=0-1',
  'Range: bytes=999999-',
  'If-None-Match: *',
  'Origin: https://evil.example',
  'Connection: keep-alive, Upgrade\r\nUpgrade: websocket',
  'Cookie: a=b',
  'X-HTTP-Method-Override: DELETE',
);

/** Whatever llhttp may refuse: bad framing, bad bytes, sizes past its limits. */
const framingAbuseArb = fc.constantFrom(
  'Content-Length: 5\r\nContent-Length: 6',
  'Content-Length: 2\r\nContent-Length: 2',
  'Content-Length: -1',
  'Content-Length: abc',
  'Content-Length: 1e3',
  'Content-Length: 0x10',
  'Content-Length: 99999999999999999999999',
  'Transfer-Encoding: chunked\r\nContent-Length: 3',
  'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: identity',
  'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked',
  `X-Huge: ${'h'.repeat(20_000)}`,
  Array.from({ length: 3000 }, (_, i) => `X-Many-${i}: 1`).join('\r\n'),
  'Bad Header: x',
  'NoColonHere',
  ' folded: continuation',
  'X-Nul: a\u0000b',
  'X-Bare-CR: a\rb',
  'X-Latin: \u00e9\u00ff',
  ': empty-name',
);

function methodArb(op: Operation): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.constant(op.method) },
    { weight: 2, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD') },
    { weight: 1, arbitrary: fc.constantFrom('TRACE', 'PROPFIND', 'FOO', 'get', 'G ET', 'CONNECT') },
  );
}

function pathArb(op: Operation): fc.Arbitrary<string> {
  const params = op.pathParams.map((name) => (name === 'index' ? indexArb : idArb()));
  return fc.tuple(...params).map((values) => {
    let path = op.path;
    op.pathParams.forEach((name, i) => {
      path = path.replace(`{${name}}`, values[i]!);
    });
    return path;
  });
}

function caseArb(op: Operation): fc.Arbitrary<FuzzCase> {
  return fc
    .record({
      method: methodArb(op),
      path: pathArb(op),
      query: queryArb(op),
      auth: authArb,
      contentType: contentTypeArb,
      extra: fc.array(optionalHeaderArb, { maxLength: 3 }),
      abuse: fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: framingAbuseArb }),
      body: op.bodyFields
        ? bodyArb(op)
        : fc.oneof(
            { weight: 5, arbitrary: fc.constant({ body: Buffer.alloc(0), kind: 'none' }) },
            { weight: 1, arbitrary: bodyArb(op) },
          ),
      httpVersion: fc.oneof(
        { weight: 20, arbitrary: fc.constant('HTTP/1.1') },
        { weight: 1, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', 'HTTP/9.9') },
      ),
      host: fc.oneof(
        { weight: 30, arbitrary: fc.constant('Host: api.test') },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            '',
            'Host: ',
            'Host: evil.example:99999',
            'Host: a\r\nHost: b',
            `Host: ${'h'.repeat(300)}`,
          ),
        },
      ),
    })
    .map((r) => {
      const framing =
        r.abuse ??
        (r.body.body.length > 0 || r.method === 'POST' ? `Content-Length: ${r.body.body.length}` : '');
      const declaresMore =
        r.abuse !== null &&
        /Content-Length: (\d+)/.test(r.abuse) &&
        Number(/Content-Length: (\d+)/.exec(r.abuse)![1]) > r.body.body.length;
      const lines = [
        `${r.method} ${r.path}${r.query} ${r.httpVersion}`,
        r.host,
        r.auth,
        r.contentType,
        ...r.extra,
        framing,
        'Connection: close',
      ].filter((line) => line !== '');
      const head = Buffer.from(lines.join('\r\n'), 'utf8');
      const jsonType =
        r.contentType === 'Content-Type: application/json' ||
        r.contentType === 'Content-Type: application/json; charset=utf-8';
      const validKey = [KEYS.acme, KEYS.admin, KEYS.globex].some(
        (key) => r.auth === `Authorization: Bearer ${key}`,
      );
      return {
        head,
        body: r.body.body,
        short: declaresMore || /chunked/i.test(r.abuse ?? ''),
        mustBeTooLarge:
          r.body.kind === 'over-limit' &&
          r.abuse === null &&
          r.method === op.method &&
          op.bodyFields !== null &&
          r.httpVersion === 'HTTP/1.1' &&
          // A request line the parser refuses (a space in the query) is answered before any body.
          !/\s/.test(`${r.path}${r.query}`) &&
          r.host === 'Host: api.test' &&
          jsonType &&
          validKey &&
          r.extra.every((line) => !line.startsWith('Expect') && !line.startsWith('X-Request-Id')),
        label: `${r.method} ${r.path.slice(0, 120)}${r.query.slice(0, 60)} ${r.httpVersion} [${r.host.slice(0, 30) || 'no Host'}; ${r.body.kind}, ${r.body.body.length} B${r.abuse ? `; ${r.abuse.slice(0, 40)}` : ''}; ${r.extra.join('; ').slice(0, 80)}]`,
      };
    });
}

// ---------------------------------------------------------------- checks

function count(status: number, route: string) {
  statuses.set(status, (statuses.get(status) ?? 0) + 1);
  byRoute.set(route, (byRoute.get(route) ?? 0) + 1);
}

/** What must hold for every answer; returns a description of what did not. */
function problemWith(c: FuzzCase, res: RawResponse): string | null {
  // A client that half-closes its connection has gone away, for Node: a request still
  // being answered then may get no answer, but the connection must end, not hang.
  if (!res.complete && c.short && !res.timedOut) return null;
  if (!res.complete) {
    const why = res.timedOut ? 'hang' : (res.readError ?? res.writeError ?? 'closed');
    return `no complete answer (status ${res.status}, ${why})`;
  }
  if (res.status >= 500) return `status ${res.status}: ${res.body.toString('utf8').slice(0, 300)}`;
  if (c.mustBeTooLarge && res.status !== 413) return `a body over the limit answered ${res.status}, not 413`;
  // A HEAD answer has headers only: its Content-Type is what the GET's body would be.
  if (res.status >= 400 && c.head.subarray(0, 5).toString('latin1') === 'HEAD ') {
    const type = res.headers['content-type']?.[0] ?? '';
    return type.startsWith('application/json')
      ? null
      : `HEAD error ${res.status} with Content-Type ${type || 'none'}`;
  }
  if (res.status >= 400) {
    const type = res.headers['content-type']?.[0] ?? '';
    if (!type.startsWith('application/json'))
      return `error ${res.status} with Content-Type ${type || 'none'}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body.toString('utf8'));
    } catch {
      return `error ${res.status} body is not JSON: ${res.body.toString('utf8').slice(0, 200)}`;
    }
    const error = (parsed as { error?: Record<string, unknown> }).error;
    const keys = Object.keys(parsed as object);
    if (
      keys.length !== 1 ||
      !error ||
      typeof error['code'] !== 'string' ||
      typeof error['message'] !== 'string' ||
      Object.keys(error).length !== 2
    ) {
      return `error ${res.status} not in the API's format: ${res.body.toString('utf8').slice(0, 200)}`;
    }
  }
  return null;
}

async function send(c: FuzzCase): Promise<RawResponse> {
  return rawRequest(port, { head: c.head, body: c.body, endAfterWrite: c.short, timeoutMs: 60_000 });
}

describe('hostile input on every route', () => {
  it('serves the routes the document lists', () => {
    expect(operations.length).toBeGreaterThan(10);
    expect(operations.map((op) => op.operationId)).toEqual(
      expect.arrayContaining([
        'createGeneration',
        'getGeneration',
        'streamGenerationEvents',
        'createFeedback',
      ]),
    );
  });

  it('never answers 5xx, never drops a request, and every error is in the API format', async () => {
    const failures: string[] = [];
    for (const [index, op] of operations.entries()) {
      await fc
        .assert(
          fc.asyncProperty(caseArb(op), async (c) => {
            const res = await send(c);
            count(res.status, `${op.method} ${op.path}`);
            const problem = problemWith(c, res);
            if (problem) failures.push(`${c.label}: ${problem}`);
            return problem === null;
          }),
          { numRuns: RUNS_PER_ROUTE, seed: SEED + index, endOnFailure: true },
        )
        .catch(() => undefined);
    }
    expect(failures.slice(0, 20)).toEqual([]);
  });

  it('answers bodies over the limit with 413 in the error format, never a reset', async () => {
    const bodied = operations.filter((op) => op.bodyFields !== null);
    let sent = 0;
    for (const op of bodied) {
      const limit =
        op.operationId === 'createGeneration' ? submitBodyLimit(REFERENCE_IMAGE_MAX_BYTES) : BODY_LIMIT_BYTES;
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: limit + 1, max: limit * 3 }),
          fc.boolean(),
          // Ids the router takes: a URL it refuses (400) is answered before any body is read.
          fc.constantFrom(ids.mine, ids.queued, ids.theirs, `${ids.mine}:events`, 'gen_unknown', '..%2Fx'),
          async (size, chunked, id) => {
            const path = op.path.replace('{id}', id);
            const body = Buffer.alloc(size, 0x20);
            const framed = chunked
              ? Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')])
              : body;
            const res = await rawRequest(port, {
              head: [
                `${op.method} ${path} HTTP/1.1`,
                'Host: api.test',
                `Authorization: Bearer ${KEYS.acme}`,
                'Content-Type: application/json',
                chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${size}`,
                'Connection: close',
              ].join('\r\n'),
              body: framed,
            });
            sent += 1;
            count(res.status, `${op.method} ${op.path}`);
            const problem = problemWith(
              { head: Buffer.alloc(0), body, short: false, mustBeTooLarge: true, label: '' },
              res,
            );
            expect(problem, `${op.method} ${path} ${size} B${chunked ? ' chunked' : ''}`).toBeNull();
            expect(res.readError ?? res.writeError).toBeUndefined();
            expect(JSON.parse(res.body.toString('utf8')).error.code).toBe('payload_too_large');
          },
        ),
        { numRuns: 40, seed: SEED },
      );
    }
    expect(sent).toBe(40 * bodied.length);
  });

  it('is still healthy and ready, holds no connection the clients let go, and logs no secret', async () => {
    const open = () => new Promise<number>((r) => stack.app.server.getConnections((_e, n) => r(n)));
    await vi.waitFor(async () => expect(await open()).toBe(0), { timeout: 120_000, interval: 100 });
    for (const probe of ['/healthz', '/readyz']) {
      const res = await rawRequest(port, { head: `GET ${probe} HTTP/1.1\r\nHost: api\r\nConnection: close` });
      expect(res.status, probe).toBe(200);
    }
    const logs = logLines.join('');
    expect(logs.length).toBeGreaterThan(0);
    const secrets = [
      ...Object.values(KEYS),
      ...Object.values(stack.context.env.WEBHOOK_SECRETS),
      stack.s3.secretAccessKey,
      stack.s3.accessKeyId,
    ];
    for (const secret of secrets) expect(logs.includes(secret), 'a secret in the logs').toBe(false);

    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    const histogram = [...statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}: ${n}`);
    console.log(`fuzz: ${total} requests over ${byRoute.size} routes; statuses ${histogram.join(', ')}`);
    console.log(`fuzz: ${logLines.length} log lines checked for ${secrets.length} secrets`);
    expect(total).toBeGreaterThanOrEqual(10_000);
  });
});
