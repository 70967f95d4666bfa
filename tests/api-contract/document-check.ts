/**
 * Checks a real answer of the API against the operation the OpenAPI document declares
 * for it: the status must be declared (exactly, or by its range), the media type must
 * be one the response lists, a JSON body must satisfy its schema, every header the
 * response marks required must be there, and every header of note the API sent must be
 * declared, with a value its schema allows.
 */
import { resolveRef, type Schema, validate } from './json-schema.ts';

export interface RecordedAnswer {
  method: string;
  /** The document's path template, e.g. `/v1/generations/{id}`. */
  path: string;
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/** Headers a client acts on: each one the API sends must be in the document. */
const HEADERS_OF_NOTE = [
  'location',
  'retry-after',
  'preference-applied',
  'idempotent-replayed',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'www-authenticate',
  'cache-control',
];

type Json = Record<string, unknown>;

function deref(root: Schema, node: Json): Json {
  return typeof node['$ref'] === 'string' ? deref(root, resolveRef(root, node['$ref'])) : node;
}

function headerProblem(value: string, schema: Json): string | null {
  if (schema['type'] === 'integer') {
    if (!/^\d+$/.test(value)) return `"${value}" is not an integer`;
    if (typeof schema['minimum'] === 'number' && Number(value) < schema['minimum']) return `below minimum`;
  }
  if (Array.isArray(schema['enum']) && !schema['enum'].includes(value)) return `"${value}" not in enum`;
  return null;
}

export function checkAnswer(document: Schema, answer: RecordedAnswer): string[] {
  const where = `${answer.method} ${answer.path} → ${answer.status}`;
  const operation = (document['paths'] as Record<string, Record<string, Json>>)[answer.path]?.[
    answer.method.toLowerCase()
  ];
  if (!operation) return [`${where}: no such operation in the document`];
  const responses = operation['responses'] as Record<string, Json>;
  const declared =
    responses[String(answer.status)] ?? responses[`${String(answer.status)[0]}XX`] ?? responses['default'];
  if (!declared) return [`${where}: status not declared (declared: ${Object.keys(responses).join(', ')})`];
  const response = deref(document, declared);
  const problems: string[] = [];

  const headers = Object.fromEntries(
    Object.entries((response['headers'] as Record<string, Json> | undefined) ?? {}).map(([name, header]) => [
      name.toLowerCase(),
      deref(document, header),
    ]),
  );
  for (const [name, header] of Object.entries(headers)) {
    const value = answer.headers.get(name);
    if (value === null) {
      if (header['required']) problems.push(`${where}: required header ${name} missing`);
      continue;
    }
    const problem = headerProblem(value, header['schema'] as Json);
    if (problem) problems.push(`${where}: header ${name}: ${problem}`);
  }
  for (const name of HEADERS_OF_NOTE) {
    if (answer.headers.has(name) && !headers[name])
      problems.push(`${where}: sends undeclared header ${name}`);
  }

  const content = response['content'] as Record<string, { schema?: Schema }> | undefined;
  if (answer.body.length === 0) {
    if (content && answer.method !== 'HEAD')
      problems.push(`${where}: empty body, but the document declares content`);
    return problems;
  }
  const mediaType = (answer.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const media = content?.[mediaType];
  if (!media) {
    problems.push(
      `${where}: media type ${mediaType} not declared (${Object.keys(content ?? {}).join(', ')})`,
    );
    return problems;
  }
  const schema = media.schema ?? {};
  if (mediaType === 'application/json') {
    const body = JSON.parse(Buffer.from(answer.body).toString('utf8'));
    problems.push(...validate(body, schema, document).map((problem) => `${where}: ${problem}`));
  } else if (deref(document, schema)['format'] === 'binary') {
    // Binary bodies: the media type was checked; the bytes are the image.
  } else {
    problems.push(
      ...validate(Buffer.from(answer.body).toString('utf8'), schema, document).map((p) => `${where}: ${p}`),
    );
  }
  return problems;
}
