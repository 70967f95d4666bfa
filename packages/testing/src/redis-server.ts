/**
 * A real redis-server for tests: its own free port and temp directory, durable the way
 * production is (AOF with fsync on every write, no eviction). kill() and restart()
 * let fault tests crash it and bring it back on the same port with the same data.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisAnswers } from '@glm-image/shared/redis';
import { freePort } from './free-port.ts';

export interface RedisServerHandle {
  url: string;
  port: number;
  /** The data directory (holds the append-only file). */
  dir: string;
  /** Stops the server and deletes its data directory. Safe to call twice. */
  stop(): Promise<void>;
  /** Sends a signal (default SIGKILL) and waits for the process to exit; the data stays. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same port and data directory; resolves when it answers PING. */
  restart(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;
const running = new Set<ChildProcess>();
// A test runner that dies mid-test must not leave servers behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function waitForPing(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server exited during start-up: ${output()}`);
    }
    if (await redisAnswers(`redis://127.0.0.1:${port}`)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms: ${output()}`,
  );
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Arguments of a redis-server kept the way production keeps it: an append-only file
 * synced on every write, no eviction (BullMQ loses jobs otherwise), loopback only.
 */
export function durableRedisArgs(port: number, dir: string): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--maxmemory-policy',
    'noeviction',
    '--save',
    '',
    '--protected-mode',
    'no',
  ];
}

export async function startRedisServer(): Promise<RedisServerHandle> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'glm-redis-'));
  let child: ChildProcess | null = null;
  let stopped = false;

  const launch = async (): Promise<void> => {
    let output = '';
    const proc = spawn('redis-server', durableRedisArgs(port, dir), { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    });
    proc.once('error', (error) => {
      output += `\n${error.message}`;
    });
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    child = proc;
    try {
      await waitForPing(port, proc, () => output);
    } catch (error) {
      proc.kill('SIGKILL');
      await exited(proc);
      throw error;
    }
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const proc = child;
    if (proc === null) return;
    child = null;
    proc.kill(signal);
    await exited(proc);
  };

  await launch().catch(async (error) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    kill,
    async restart() {
      if (stopped) throw new Error('redis-server was stopped; start a new one');
      await kill('SIGKILL');
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
