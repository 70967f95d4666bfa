/**
 * The append-only-file settings the deploy manifests give Redis (compose and the dev
 * Kubernetes overlay), read from the manifests themselves: a fault test that restarts
 * Redis proves what it proves only for the persistence that ships.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../../../scripts/stack/start-stack.ts';

export interface RedisPersistence {
  appendonly: string;
  appendfsync: string;
}

/** Redis's own defaults for what a command line leaves out. */
const REDIS_DEFAULTS: RedisPersistence = { appendonly: 'no', appendfsync: 'everysec' };

function persistenceOf(args: string[], where: string): RedisPersistence {
  const setting = (name: keyof RedisPersistence) => {
    const at = args.indexOf(`--${name}`);
    return at === -1 ? REDIS_DEFAULTS[name] : (args[at + 1] ?? '');
  };
  const settings = { appendonly: setting('appendonly'), appendfsync: setting('appendfsync') };
  if (settings.appendonly !== 'yes') throw new Error(`${where} runs Redis without an append-only file`);
  return settings;
}

/** The settings every manifest ships; throws when two manifests disagree. */
export function shippedRedisPersistence(): RedisPersistence {
  const compose = parse(readFileSync(join(REPO_ROOT, 'deploy/compose.yaml'), 'utf8'), { merge: true }) as {
    services: { redis: { command: string[] } };
  };
  const fromCompose = persistenceOf(compose.services.redis.command, 'deploy/compose.yaml');

  const overlay = 'deploy/k8s/overlays/dev/redis.yaml';
  const documents = parseAllDocuments(readFileSync(join(REPO_ROOT, overlay), 'utf8')).map(
    (document) => document.toJS() as { kind?: string; spec?: { template?: { spec?: unknown } } },
  );
  const deployment = documents.find((document) => document.kind === 'Deployment');
  const containers = (deployment?.spec?.template?.spec as { containers?: { args?: string[] }[] } | undefined)
    ?.containers;
  const fromK8s = persistenceOf(containers?.[0]?.args ?? [], overlay);

  if (fromCompose.appendfsync !== fromK8s.appendfsync) {
    throw new Error(
      `deploy/compose.yaml ships appendfsync ${fromCompose.appendfsync}, ${overlay} ${fromK8s.appendfsync}`,
    );
  }
  return fromCompose;
}
