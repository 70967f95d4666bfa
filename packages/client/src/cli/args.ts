import { parseArgs } from 'node:util';
import type { CreateGenerationRequest, CreateRenderRequest, OutputFormat } from '../types.ts';
import { EXIT_CODES_HELP, UsageError } from './exit-codes.ts';

/** The command line: which command, its options, parsed and checked before anything is sent. */

export const USAGE = `glm-image: generate images with a GLM-Image API

Usage:
  glm-image generate "<prompt>" [--out FILE] [--size WxH] [--seed N] [--steps N] [--n N]
                     [--format png|webp|jpeg] [--guidance X] [--preview FILE | --no-preview] [--no-wait]
  glm-image render <id> [--out FILE] [--size WxH] [--seed N] [--steps N] [--n N] [--format F]
                   [--guidance X] [--no-wait]
  glm-image status <id>
  glm-image cancel <id>
  glm-image list [--limit N] [--cursor CURSOR] [--all]

generate and render wait for the end, with progress on stderr, and save the images to
--out (default <id>.<format>; with --n 2 or more, name-1.png, name-2.png, ...). The
format follows --format, else the extension of --out. generate saves the layout
preview as soon as the planner has drawn it (default <out>.preview.png).

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
  'no-preview': { type: 'boolean' },
  'no-wait': { type: 'boolean' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  all: { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

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
    'no-wait',
  ],
  render: ['out', 'size', 'width', 'height', 'seed', 'steps', 'n', 'format', 'guidance', 'no-wait'],
  status: [],
  cancel: [],
  list: ['limit', 'cursor', 'all'],
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
      body: CreateGenerationRequest;
      out: string | null;
      preview: string | false | null;
      wait: boolean;
    })
  | (Common & { name: 'render'; id: string; body: CreateRenderRequest; out: string | null; wait: boolean })
  | (Common & { name: 'status' | 'cancel'; id: string })
  | (Common & { name: 'list'; limit?: number; cursor?: string; all: boolean });

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
      return {
        name,
        ...common,
        body: { prompt: one(rest, 'one prompt'), ...decoderSettings(values) },
        out: values.out ?? null,
        preview: values['no-preview'] ? false : (values.preview ?? null),
        wait: !values['no-wait'],
      };
    }
    case 'render':
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
