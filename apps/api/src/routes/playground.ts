/**
 * The playground: a static page at `/` and its ES modules and stylesheet under
 * `/playground/`, read from ../public once at start-up. There is nothing to build: the
 * browser loads the modules as they are. The page talks to the API like any client, with
 * the key in an Authorization header, so these routes need no key themselves and stay out
 * of the OpenAPI document.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotFoundError } from '@glm-image/shared/errors';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

export const PLAYGROUND_DIR = fileURLToPath(new URL('../public/', import.meta.url));
export const PLAYGROUND_ASSET_PREFIX = '/playground/';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  body: Buffer;
  contentType: string;
  etag: string;
}

export interface PlaygroundOptions {
  /** Where the files are; default: the API's own public folder. */
  dir?: string;
  /**
   * The origin images come from when the bucket is published (S3_PUBLIC_BASE_URL): the
   * page then shows output URLs directly, so the policy must let it load them.
   */
  imageOrigin?: string;
}

/**
 * Only what the page does: its own scripts and styles, images from itself, from the
 * object URLs it makes of downloaded images and from a published bucket, and requests
 * to its own API. No inline script or style, no frames, no plugins.
 */
export function contentSecurityPolicy(imageOrigin?: string): string {
  const images = ["'self'", 'blob:', 'data:', ...(imageOrigin ? [imageOrigin] : [])].join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src ${images}`,
    `connect-src 'self'${imageOrigin ? ` ${imageOrigin}` : ''}`,
    "form-action 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

async function filesUnder(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await filesUnder(path)));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

/** Every servable file of the folder by its URL path below the prefix (`js/main.js`). */
export async function loadAssets(dir: string): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const file of await filesUnder(dir)) {
    const contentType = CONTENT_TYPES[extname(file)];
    if (!contentType) continue; // tests and notes beside the page are not served
    const body = await readFile(file);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(relative(dir, file).split(sep).join('/'), { body, contentType, etag });
  }
  return assets;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, '');
    return tag === etag || tag === '*';
  });
}

export const playgroundRoutes: FastifyPluginAsync<PlaygroundOptions> = async (app, options) => {
  const assets = await loadAssets(options.dir ?? PLAYGROUND_DIR);
  if (!assets.has('index.html')) throw new Error(`the playground has no index.html in ${options.dir}`);
  const policy = contentSecurityPolicy(options.imageOrigin);

  const send = (request: FastifyRequest, reply: FastifyReply, asset: Asset) => {
    reply.headers({
      etag: asset.etag,
      // The file names carry no version: revalidate every time, a 304 is cheap.
      'cache-control': 'no-cache',
      'content-security-policy': policy,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
    });
    if (matchesEtag(request.headers['if-none-match'], asset.etag)) return reply.code(304).send();
    return reply.type(asset.contentType).send(asset.body);
  };

  app.get('/', { schema: { hide: true } }, (request, reply) =>
    send(request, reply, assets.get('index.html')!),
  );
  app.get<{ Params: { '*': string } }>(
    `${PLAYGROUND_ASSET_PREFIX}*`,
    { schema: { hide: true } },
    (request, reply) => {
      const asset = assets.get(request.params['*']);
      if (!asset) throw new NotFoundError(`No playground file ${request.params['*']}`);
      return send(request, reply, asset);
    },
  );
};
