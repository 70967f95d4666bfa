import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import errorsPlugin from '../plugins/errors.ts';
import { contentSecurityPolicy, loadAssets, PLAYGROUND_DIR, playgroundRoutes } from './playground.ts';

/** The page's routes on their own: they need no Redis, no S3 and no key. */
async function playgroundApp(options: { imageOrigin?: string } = {}): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(errorsPlugin);
  await app.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 't', version: '1' } } });
  await app.register(playgroundRoutes, options);
  await app.ready();
  return app;
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('the playground routes', () => {
  it('serve the page at / with a strict policy, an ETag, and 304 when it has not changed', async () => {
    app = await playgroundApp();
    const page = await app.inject({ url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('<script type="module" src="/playground/js/main.js"></script>');
    expect(page.headers['content-security-policy']).toBe(contentSecurityPolicy());
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.headers['content-security-policy']).not.toContain('unsafe');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['cache-control']).toBe('no-cache');
    const etag = page.headers.etag as string;
    expect(etag).toMatch(/^"[\w-]+"$/);

    const again = await app.inject({ url: '/', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    const changed = await app.inject({ url: '/', headers: { 'if-none-match': '"something-else"' } });
    expect(changed.statusCode).toBe(200);
  });

  it('serve the modules and the stylesheet with their content types', async () => {
    app = await playgroundApp();
    const script = await app.inject({ url: '/playground/js/main.js' });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    const style = await app.inject({ url: '/playground/playground.css' });
    expect(style.headers['content-type']).toBe('text/css; charset=utf-8');
  });

  it('answer 404 in the API error format for anything else, outside the folder included', async () => {
    app = await playgroundApp();
    for (const url of [
      '/playground/js/missing.js',
      '/playground/../routes/playground.ts',
      '/playground/%2e%2e/routes/playground.ts',
      '/playground/sse.test.ts',
    ]) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.code).toBe('not_found');
    }
  });

  it('stay out of the OpenAPI document', async () => {
    app = await playgroundApp();
    const paths = Object.keys((app.swagger() as { paths?: Record<string, unknown> }).paths ?? {});
    expect(paths.filter((path) => path === '/' || path.startsWith('/playground'))).toEqual([]);
  });

  it('let the page show images from a published bucket when there is one', async () => {
    app = await playgroundApp({ imageOrigin: 'https://cdn.example.com' });
    const policy = (await app.inject({ url: '/' })).headers['content-security-policy'] as string;
    expect(policy).toContain("img-src 'self' blob: data: https://cdn.example.com");
    expect(policy).toContain("connect-src 'self' https://cdn.example.com");
  });
});

describe('the playground files', () => {
  it('every module the page imports is one the route serves', async () => {
    const assets = await loadAssets(PLAYGROUND_DIR);
    const html = (await readFile(join(PLAYGROUND_DIR, 'index.html'), 'utf8')).toString();
    const pending = [...html.matchAll(/(?:src|href)="\/playground\/([^"]+)"/g)].map((m) => m[1]!);
    expect(pending).toContain('js/main.js');
    const seen = new Set<string>();
    while (pending.length > 0) {
      const path = pending.pop()!;
      if (seen.has(path)) continue;
      seen.add(path);
      expect(assets.has(path), `${path} is served`).toBe(true);
      if (!path.endsWith('.js')) continue;
      const source = assets.get(path)!.body.toString('utf8');
      for (const [, specifier] of source.matchAll(
        /^\s*(?:import|export)\s[^'"();]*?\bfrom\s*['"]([^'"]+)['"]/gm,
      )) {
        expect(specifier, `${path} imports ${specifier}`).toMatch(/^\.\.?\//);
        pending.push(new URL(specifier!, `http://x/${path}`).pathname.slice(1));
      }
    }
    expect(seen.size).toBeGreaterThan(5);
  });
});
