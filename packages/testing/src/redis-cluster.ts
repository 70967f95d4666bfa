/**
 * A real Redis Cluster for tests: three masters (no replicas) on loopback, each a
 * redis-server on its own free port and temp directory, kept the way production keeps
 * Redis (durableRedisArgs). `redis-cli --cluster create` splits the 16384 slots between
 * them; the cluster is handed out once every node says `cluster_state:ok`.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './free-port.ts';
import { durableRedisArgs } from './redis-server.ts';

export interface RedisClusterNode {
  port: number;
  /** The node alone (redis://), for commands about the node itself, e.g. CLUSTER INFO. */
  url: string;
  dir: string;
}

export interface RedisClusterHandle {
  /** The cluster URL every process takes as REDIS_URL: redis+cluster://127.0.0.1:P1,... */
  url: string;
  nodes: RedisClusterNode[];
  /** SIGKILLs every node (the whole cluster is down); the data and cluster configuration stay. */
  kill(): Promise<void>;
  /** Starts every node again on its port and data; resolves once the cluster is ok again. */
  restart(): Promise<void>;
  /** SIGKILLs one node; once the others have marked it failed, they answer `cluster_state:fail`. */
  killNode(index: number): Promise<void>;
  /** Starts a killed node again on its port and data; resolves once the cluster is ok again. */
  restartNode(index: number): Promise<void>;
  /** Stops every node and deletes the data directories. Safe to call twice. */
  stop(): Promise<void>;
}

const MASTERS = 3;
/** A node talks to the others on its port + 10000 (the cluster bus). */
const BUS_PORT_OFFSET = 10_000;
const READY_TIMEOUT_MS = 60_000;
/** Port picks per node before giving up: another program may take a port between pick and bind. */
const PORT_TRIES = 5;

const running = new Set<ChildProcess>();
// A test runner that dies mid-test must not leave servers behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free port whose bus port (port + 10000) is free too and still a port. */
async function freeNodePort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + BUS_PORT_OFFSET > 65_535 || taken.has(port) || taken.has(port + BUS_PORT_OFFSET)) continue;
    if (await portIsFree(port + BUS_PORT_OFFSET)) return port;
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function waitUntil(what: string, check: () => Promise<boolean>, failure: () => string | null) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const failed = failure();
    if (failed !== null) throw new Error(failed);
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} within ${READY_TIMEOUT_MS} ms`);
}

/** One command to one node, on a connection that does not retry. */
async function ask(port: number, ...command: [string, ...string[]]): Promise<string> {
  const node = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  node.on('error', () => {});
  try {
    await node.connect();
    return String(await node.call(...command));
  } finally {
    node.disconnect();
  }
}

interface StartedNode extends RedisClusterNode {
  child: ChildProcess;
}

/** Starts a cluster-enabled redis-server on `port` and `dir`; resolves once it answers PING. */
async function launchNode(port: number, dir: string): Promise<ChildProcess> {
  const args = [
    ...durableRedisArgs(port, dir),
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    '5000',
  ];
  let output = '';
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.once('error', (error) => {
    output += `\n${error.message}`;
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  try {
    await waitUntil(
      `redis-server on port ${port} did not answer PING`,
      async () => (await ask(port, 'PING')) === 'PONG',
      () =>
        child.exitCode !== null || child.signalCode !== null
          ? `redis-server exited during start-up: ${output}`
          : null,
    );
    return child;
  } catch (error) {
    child.kill('SIGKILL');
    await exited(child);
    throw error;
  }
}

/** A node on free ports of its own; another program may take a port between pick and bind, so it tries again. */
async function startNode(taken: Set<number>): Promise<StartedNode> {
  let lastError: Error | null = null;
  for (let attempt = 0; attempt < PORT_TRIES; attempt += 1) {
    const port = await freeNodePort(taken);
    const dir = await mkdtemp(join(tmpdir(), 'glm-redis-cluster-'));
    try {
      const child = await launchNode(port, dir);
      taken.add(port);
      taken.add(port + BUS_PORT_OFFSET);
      return { port, url: `redis://127.0.0.1:${port}`, dir, child };
    } catch (error) {
      lastError = error as Error;
      await rm(dir, { recursive: true, force: true });
    }
  }
  throw lastError ?? new Error('could not start a cluster node');
}

async function stopNodes(nodes: StartedNode[]): Promise<void> {
  await Promise.all(
    nodes.map(async (node) => {
      node.child.kill('SIGTERM');
      await exited(node.child);
      await rm(node.dir, { recursive: true, force: true });
    }),
  );
}

/** Whether `port` serves every slot, knows every master and says the cluster is ok. */
async function nodeReady(port: number): Promise<boolean> {
  const info = await ask(port, 'CLUSTER', 'INFO');
  return (
    info.includes('cluster_state:ok') &&
    info.includes('cluster_slots_ok:16384') &&
    info.includes(`cluster_known_nodes:${MASTERS}`)
  );
}

async function clusterReady(nodes: readonly StartedNode[]): Promise<void> {
  for (const node of nodes) {
    await waitUntil(
      `cluster node ${node.port} did not report cluster_state:ok`,
      () => nodeReady(node.port),
      () => null,
    );
  }
}

export async function startRedisCluster(): Promise<RedisClusterHandle> {
  const taken = new Set<number>();
  const nodes: StartedNode[] = [];
  try {
    for (let i = 0; i < MASTERS; i += 1) nodes.push(await startNode(taken));
    await promisify(execFile)(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: READY_TIMEOUT_MS },
    );
    await clusterReady(nodes);
  } catch (error) {
    await stopNodes(nodes);
    throw error;
  }
  let stopped = false;
  const killNode = async (node: StartedNode) => {
    node.child.kill('SIGKILL');
    await exited(node.child);
  };
  const kill = () => Promise.all(nodes.map(killNode)).then(() => {});
  const assertRunning = () => {
    if (stopped) throw new Error('the cluster was stopped; start a new one');
  };
  return {
    url: `redis+cluster://${nodes.map((node) => `127.0.0.1:${node.port}`).join(',')}`,
    nodes: nodes.map(({ port, url, dir }) => ({ port, url, dir })),
    kill,
    killNode: (index) => killNode(nodes[index]!),
    async restartNode(index) {
      assertRunning();
      const node = nodes[index]!;
      await killNode(node);
      node.child = await launchNode(node.port, node.dir);
      await clusterReady(nodes);
    },
    async restart() {
      assertRunning();
      await kill();
      for (const node of nodes) node.child = await launchNode(node.port, node.dir);
      await clusterReady(nodes);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopNodes(nodes);
    },
  };
}
