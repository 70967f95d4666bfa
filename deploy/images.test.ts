/**
 * Docker cannot run in the test environment, so the images and the compose file are
 * checked by reading them against what the apps actually expect.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { APP_ENV_VARS, APP_PORTS, APPS, DEPLOY_DIR, REPO_ROOT } from './manifests.ts';

const dockerfile = (app: string) => readFileSync(join(DEPLOY_DIR, `docker/${app}.Dockerfile`), 'utf8');

describe.each(APPS)('%s image', (app) => {
  const text = dockerfile(app);

  it('is built from `turbo prune` of the app workspace', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, `apps/${app}/package.json`), 'utf8')) as {
      name: string;
    };
    expect(text).toContain(`turbo prune ${pkg.name} --docker`);
    expect(text).toMatch(
      /COPY --from=pruner \/app\/out\/json\/ \.\n[\s\S]*RUN npm ci[\s\S]*COPY --from=pruner \/app\/out\/full\/ \./,
    );
    expect(existsSync(join(DEPLOY_DIR, `docker/${app}.Dockerfile.dockerignore`))).toBe(true);
  });

  it('runs the app entry point as a non-root user on its port', () => {
    const cmd = /^CMD (\[.*\])$/m.exec(text);
    const argv = JSON.parse(cmd![1]!) as string[];
    expect(argv.slice(0, 3)).toEqual(['node', '--import', 'tsx']);
    expect(argv[3]).toMatch(new RegExp(`^apps/${app}/src/(main|server)\\.ts$`));
    expect(existsSync(join(REPO_ROOT, argv[3]!)), `${argv[3]} exists`).toBe(true);
    expect(text).toMatch(/^USER 10001:10001$/m);
    expect(text).toMatch(new RegExp(`^EXPOSE ${APP_PORTS[app].port}$`, 'm'));
    expect(text).toContain(`127.0.0.1:${APP_PORTS[app].port}/healthz`);
    expect(text).toContain('RUN npm run build:packs');
    // The pack builder draws its glyphs from Debian's Unifont, before it runs.
    expect(text.indexOf('install -y --no-install-recommends unifont')).toBeLessThan(
      text.indexOf('RUN npm run build:packs'),
    );
    expect(text).toContain('install -y --no-install-recommends unifont');
  });

  it('installs onnxruntime-node for the execution provider it runs', () => {
    if (app === 'decoder-worker') {
      expect(text).toMatch(/^ARG CUDA_IMAGE=nvidia\/cuda:12\.[\d.]+-cudnn-runtime-/m);
      expect(text).toMatch(/^FROM \$\{CUDA_IMAGE\} AS runner$/m);
      expect(text).toContain('ENV ONNXRUNTIME_NODE_INSTALL=cuda12');
      expect(text).toContain('EXECUTION_PROVIDER=cuda');
    } else {
      expect(text).toContain('ENV ONNXRUNTIME_NODE_INSTALL=skip');
    }
  });
});

describe('compose.yaml', () => {
  type Service = {
    environment?: Record<string, string>;
    command?: string[];
    ports?: string[];
    stop_grace_period?: string;
    build?: { context: string; dockerfile: string };
  };
  const compose = parse(readFileSync(join(DEPLOY_DIR, 'compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<string, Service>;
  };

  it('runs Redis durably and without eviction', () => {
    const command = compose.services.redis!.command!.join(' ');
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--appendfsync always');
    expect(command).toContain('--maxmemory-policy noeviction');
  });

  it.each(APPS)('configures %s with variables its schema reads, on its port', (app) => {
    const service = compose.services[app]!;
    const env = service.environment ?? {};
    expect(Object.keys(env).filter((name) => !APP_ENV_VARS[app].includes(name))).toEqual([]);
    const { port, envVar } = APP_PORTS[app];
    expect(env[envVar]).toBe(String(port));
    expect(service.ports).toContain(`${port}:${port}`);
    expect(service.build).toEqual({ context: '..', dockerfile: `deploy/docker/${app}.Dockerfile` });
    const graceSeconds = Number.parseInt(service.stop_grace_period!, 10);
    expect(graceSeconds * 1000).toBeGreaterThan(Number(env.SHUTDOWN_GRACE_MS));
  });
});
