/**
 * REDIS_URL, read in one place. Two forms:
 *
 *   redis://[user:password@]host:port[/db]   one Redis server (rediss:// for TLS)
 *   redis+cluster://[user:password@]host:port,host:port,...
 *                                            a Redis Cluster, given by seed nodes; the client
 *                                            learns the rest of the cluster from them
 *                                            (rediss+cluster:// for TLS)
 *
 * A cluster has one database, so the cluster form takes no path.
 */

export interface ClusterNode {
  host: string;
  port: number;
}

export type RedisTarget =
  | { kind: 'server'; url: string }
  | {
      kind: 'cluster';
      nodes: ClusterNode[];
      username?: string;
      password?: string;
      tls: boolean;
    };

const SERVER = /^rediss?:\/\/.+/;
const CLUSTER = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/;
const DEFAULT_PORT = 6379;

/** The target REDIS_URL names; throws an Error saying what is wrong with it. */
export function parseRedisUrl(url: string): RedisTarget {
  const cluster = CLUSTER.exec(url);
  if (cluster) {
    const [, scheme, userInfo, hosts] = cluster as unknown as [string, string, string | undefined, string];
    const target: RedisTarget = {
      kind: 'cluster',
      nodes: hosts.split(',').map(clusterNode),
      tls: scheme === 'rediss',
    };
    if (userInfo !== undefined) {
      const colon = userInfo.indexOf(':');
      const username = decodeURIComponent(colon < 0 ? '' : userInfo.slice(0, colon));
      const password = decodeURIComponent(colon < 0 ? userInfo : userInfo.slice(colon + 1));
      if (username !== '') target.username = username;
      if (password !== '') target.password = password;
    }
    return target;
  }
  if (/^rediss?\+cluster:/.test(url)) {
    throw new Error('a cluster URL lists seed nodes and nothing else: redis+cluster://host:port,host:port');
  }
  if (SERVER.test(url) && URL.canParse(url)) return { kind: 'server', url };
  throw new Error('must be a redis://, rediss://, redis+cluster:// or rediss+cluster:// URL');
}

function clusterNode(text: string): ClusterNode {
  // host:port, [v6]:port, or a bare host on Redis's default port.
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(text.trim());
  const host = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? DEFAULT_PORT : Number(match[3]);
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`"${text}" is not a cluster node: host:port`);
  }
  return { host, port };
}
