import { parseArgs } from 'node:util';
import type {
  CreateFeedbackRequest,
  CreateGenerationRequest,
  CreateRenderRequest,
  FeedbackStage,
  OutputFormat,
  TrainingStage,
} from '../types.ts';
import { EXIT_CODES_HELP, UsageError } from './exit-codes.ts';

/** The command line: which command, its options, parsed and checked before anything is sent. */

/** As many reference images as the API takes. */
export const MAX_REFERENCES = 4;

export const USAGE = `glm-image: generate images with a GLM-Image API

Usage:
  glm-image generate "<prompt>" [--out FILE] [--size WxH] [--seed N] [--steps N] [--n N]
                     [--format png|webp|jpeg] [--guidance X] [--preview FILE | --no-preview]
                     [--reference FILE ...] [--plan-only] [--no-wait]
  glm-image render <id> [--out FILE] [--size WxH] [--seed N] [--steps N] [--n N] [--format F]
                   [--guidance X] [--no-wait]
  glm-image approve <id> [the options of render]
  glm-image status <id>
  glm-image cancel <id>
  glm-image list [--limit N] [--cursor CURSOR] [--all]
  glm-image feedback <id> [--rating 1-5] [--stage plan|decode|both] [--label L ...]
                     [--comment TEXT] [--prefer I] [--idempotency-key KEY]
  glm-image export --stage plan|decode [--since TIME] [--cursor CURSOR] [--limit N]
                   [--tenant T] [--out FILE]

generate and render wait for the end, with progress on stderr, and save the images to
--out (default <id>.<format>; with --n 2 or more, name-1.png, name-2.png, ...). The
format follows --format, else the extension of --out. generate saves the layout
preview as soon as the planner has drawn it (default <out>.preview.png).

--reference FILE edits an image (PNG, JPEG or WebP; repeat it for up to ${MAX_REFERENCES}): the
prompt says what to change ("make the background green"). --plan-only stops after the
planner: it saves the preview and prints the generation's id; \`glm-image approve <id>\`
(the same as render) then decodes that plan, as many times as wanted.

feedback rates a succeeded generation: at least one of --rating, --label (repeat it
for several: text_wrong, layout_wrong, bad_hands, artifacts, ...), --comment, --prefer
(the index of the best image, from 0). --stage says what it is about (default both;
a re-render takes only decode, a plan-only generation only plan).

export writes the training rows of one stage (admin keys), one JSON object per line,
to stdout or --out, following the export's pages until it is caught up (or --limit
rows); stderr ends with the cursor to continue from. With --out and --json, stdout
gets { "rows", "out", "cursor" }.

Options of every command:
  --api-url URL   the API (default: $GLM_IMAGE_API_URL, else http://127.0.0.1:3000)
  --api-key KEY   the API key (default: $GLM_IMAGE_API_KEY)
  --json          print one JSON document on stdout, for scripts
  --quiet         no progress on stderr
  -h, --help      this text

${EXIT_CODES_HELP}
`;

const OPTIONS = {
  'api-url': { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  out: { type: 'string', short: 'o' },
  size: { type: 'string' },
  width: { type: 'string' },
  height: { type: 'string' },
  seed: { type: 'string' },
  steps: { type: 'string' },
  n: { type: 'string' },
  format: { type: 'string' },
  guidance: { type: 'string' },
  preview: { type: 'string' },
  reference: { type: 'string', multiple: true },
  'plan-only': { type: 'boolean' },
  'no-preview': { type: 'boolean' },
  'no-wait': { type: 'boolean' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  all: { type: 'boolean' },
  rating: { type: 'string' },
  stage: { type: 'string' },
  label: { type: 'string', multiple: true },
  comment: { type: 'string' },
  prefer: { type: 'string' },
  'idempotency-key': { type: 'string' },
  since: { type: 'string' },
  tenant: { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

const RENDER_OPTIONS: readonly (keyof typeof OPTIONS)[] = [
  'out',
  'size',
  'width',
  'height',
  'seed',
  'steps',
  'n',
  'format',
  'guidance',
  'no-wait',
];

/** Which options each command takes, beyond the common ones. */
const COMMAND_OPTIONS: Record<string, readonly (keyof typeof OPTIONS)[]> = {
  generate: [
    'out',
    'size',
    'width',
    'height',
    'seed',
    'steps',
    'n',
    'format',
    'guidance',
    'preview',
    'no-preview',
    'reference',
    'plan-only',
    'no-wait',
  ],
  render: RENDER_OPTIONS,
  approve: RENDER_OPTIONS,
  status: [],
  cancel: [],
  list: ['limit', 'cursor', 'all'],
  feedback: ['rating', 'stage', 'label', 'comment', 'prefer', 'idempotency-key'],
  export: ['stage', 'since', 'cursor', 'limit', 'tenant', 'out'],
};
const COMMON = new Set(['api-url', 'api-key', 'json', 'quiet', 'help']);

export interface Connection {
  apiUrl: string;
  apiKey: string;
}

export interface Common {
  json: boolean;
  quiet: boolean;
}

export type Command =
  | { name: 'help' }
  | (Common & {
      name: 'generate';
      /** Without `reference_images`: those are read from `references` when the command runs. */
      body: CreateGenerationRequest;
      /** Paths of the reference images, in order. */
      references: string[];
      out: string | null;
      preview: string | false | null;
      wait: boolean;
    })
  | (Common & {
      /** approve is render under the name of the plan-then-approve flow. */
      name: 'render' | 'approve';
      id: string;
      body: CreateRenderRequest;
      out: string | null;
      wait: boolean;
    })
  | (Common & { name: 'status' | 'cancel'; id: string })
  | (Common & { name: 'list'; limit?: number; cursor?: string; all: boolean })
  | (Common & { name: 'feedback'; id: string; body: CreateFeedbackRequest; idempotencyKey?: string })
  | (Common & { name: 'export'; query: ExportQuery; out: string | null });

export interface ExportQuery {
  stage: TrainingStage;
  since?: string;
  cursor?: string;
  limit?: number;
  tenant?: string;
}

const FORMATS: Record<string, OutputFormat> = { png: 'png', webp: 'webp', jpeg: 'jpeg', jpg: 'jpeg' };

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} must be a whole number, not "${value}"`);
  return Number(value);
}

function decimal(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number))
    throw new UsageError(`--${name} must be a number, not "${value}"`);
  return number;
}

function size(values: Values): { width?: number; height?: number } {
  if (values.size !== undefined) {
    if (values.width !== undefined || values.height !== undefined) {
      throw new UsageError('give --size or --width/--height, not both');
    }
    const match = /^(\d+)x(\d+)$/i.exec(values.size);
    if (!match) throw new UsageError(`--size must look like 512x512, not "${values.size}"`);
    return { width: Number(match[1]), height: Number(match[2]) };
  }
  const result: { width?: number; height?: number } = {};
  const width = integer('width', values.width);
  const height = integer('height', values.height);
  if (width !== undefined) result.width = width;
  if (height !== undefined) result.height = height;
  return result;
}

/** The format from --format, else from the extension of --out; both given must agree. */
function outputFormat(values: Values): OutputFormat | undefined {
  const fromFlag = values.format === undefined ? undefined : FORMATS[values.format.toLowerCase()];
  if (values.format !== undefined && !fromFlag) {
    throw new UsageError(`--format must be png, webp or jpeg, not "${values.format}"`);
  }
  const extension = values.out ? /\.([a-z0-9]+)$/i.exec(values.out)?.[1]?.toLowerCase() : undefined;
  const fromOut = extension === undefined ? undefined : FORMATS[extension];
  if (fromFlag && fromOut && fromFlag !== fromOut) {
    throw new UsageError(`--out ${values.out} does not match --format ${values.format}`);
  }
  return fromFlag ?? fromOut;
}

/** The decoder settings generate and render share, with only what was given. */
function decoderSettings(values: Values) {
  const settings: CreateRenderRequest = { ...size(values) };
  const seed = integer('seed', values.seed);
  const steps = integer('steps', values.steps);
  const n = integer('n', values.n);
  const guidance = decimal('guidance', values.guidance);
  const format = outputFormat(values);
  if (seed !== undefined) settings.seed = seed;
  if (steps !== undefined) settings.steps = steps;
  if (n !== undefined) settings.n = n;
  if (guidance !== undefined) settings.guidance_scale = guidance;
  if (format !== undefined) settings.output_format = format;
  return settings;
}

function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(
      `--${name} must be ${allowed.join(', ').replace(/, ([^,]+)$/, ' or $1')}, not "${value}"`,
    );
  }
  return value as T;
}

/** The feedback body, with only what was given; the API checks the rest (ranges, labels, stage). */
function feedbackBody(values: Values): CreateFeedbackRequest {
  const body: CreateFeedbackRequest = {};
  const stage = oneOf<FeedbackStage>('stage', values.stage, ['plan', 'decode', 'both']);
  const rating = integer('rating', values.rating);
  const preferred = integer('prefer', values.prefer);
  if (stage !== undefined) body.stage = stage;
  if (rating !== undefined) body.rating = rating;
  if (values.label !== undefined) body.labels = values.label;
  if (values.comment !== undefined) body.comment = values.comment;
  if (preferred !== undefined) body.preferred_output = preferred;
  if (
    body.rating === undefined &&
    body.labels === undefined &&
    body.comment === undefined &&
    body.preferred_output === undefined
  ) {
    throw new UsageError('feedback needs at least one of --rating, --label, --comment, --prefer');
  }
  return body;
}

function exportQuery(values: Values): ExportQuery {
  const stage = oneOf<TrainingStage>('stage', values.stage, ['plan', 'decode']);
  if (stage === undefined) throw new UsageError('export needs --stage plan or --stage decode');
  const query: ExportQuery = { stage };
  if (values.since !== undefined) {
    // Any date JavaScript reads (2025-01-31, 2025-01-31T12:00Z, …), sent as the ISO time the API takes.
    const at = Date.parse(values.since);
    if (Number.isNaN(at)) throw new UsageError(`--since must be a date or time, not "${values.since}"`);
    query.since = new Date(at).toISOString();
  }
  const limit = integer('limit', values.limit);
  if (values.cursor !== undefined) query.cursor = values.cursor;
  if (limit !== undefined) query.limit = limit;
  if (values.tenant !== undefined) query.tenant = values.tenant;
  return query;
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1 || !positionals[0]) {
    throw new UsageError(`expected ${what}${positionals.length > 1 ? ' (quote it if it has spaces)' : ''}`);
  }
  return positionals[0];
}

export function parseCommand(argv: readonly string[]): Command {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (values.help || name === undefined || name === 'help') return { name: 'help' };
  const allowed = COMMAND_OPTIONS[name];
  if (!allowed) throw new UsageError(`unknown command "${name}"`);
  for (const option of Object.keys(values)) {
    if (!COMMON.has(option) && !allowed.includes(option as keyof typeof OPTIONS)) {
      throw new UsageError(`${name} takes no --${option}`);
    }
  }
  const common = { json: values.json ?? false, quiet: values.quiet ?? false };
  switch (name) {
    case 'generate': {
      if (values.preview !== undefined && values['no-preview']) {
        throw new UsageError('give --preview or --no-preview, not both');
      }
      const references = values.reference ?? [];
      if (references.length > MAX_REFERENCES) {
        throw new UsageError(`at most ${MAX_REFERENCES} --reference images, not ${references.length}`);
      }
      const body: CreateGenerationRequest = { prompt: one(rest, 'one prompt'), ...decoderSettings(values) };
      if (values['plan-only']) body.decode = false;
      return {
        name,
        ...common,
        body,
        references,
        out: values.out ?? null,
        preview: values['no-preview'] ? false : (values.preview ?? null),
        wait: !values['no-wait'],
      };
    }
    case 'render':
    case 'approve':
      return {
        name,
        ...common,
        id: one(rest, 'one generation id'),
        body: decoderSettings(values),
        out: values.out ?? null,
        wait: !values['no-wait'],
      };
    case 'status':
    case 'cancel':
      return { name, ...common, id: one(rest, 'one generation id') };
    case 'feedback': {
      const key = values['idempotency-key'];
      return {
        name,
        ...common,
        id: one(rest, 'one generation id'),
        body: feedbackBody(values),
        ...(key !== undefined ? { idempotencyKey: key } : {}),
      };
    }
    case 'export':
      if (rest.length > 0) throw new UsageError('export takes no arguments');
      return { name, ...common, query: exportQuery(values), out: values.out ?? null };
    default: {
      if (rest.length > 0) throw new UsageError('list takes no arguments');
      const limit = integer('limit', values.limit);
      return {
        name: 'list',
        ...common,
        ...(limit !== undefined ? { limit } : {}),
        ...(values.cursor !== undefined ? { cursor: values.cursor } : {}),
        all: values.all ?? false,
      };
    }
  }
}

export function connectionOf(argv: readonly string[], env: NodeJS.ProcessEnv): Connection {
  const { values } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: false });
  const apiUrl =
    (values['api-url'] as string | undefined) ?? env['GLM_IMAGE_API_URL'] ?? 'http://127.0.0.1:3000';
  const apiKey = (values['api-key'] as string | undefined) ?? env['GLM_IMAGE_API_KEY'];
  if (!URL.canParse(apiUrl) || !/^https?:/.test(apiUrl))
    throw new UsageError(`--api-url: not an http(s) URL: ${apiUrl}`);
  if (!apiKey) throw new UsageError('no API key: pass --api-key or set GLM_IMAGE_API_KEY');
  return { apiUrl, apiKey };
}
