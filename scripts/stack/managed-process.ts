/**
 * A child process kept alive the way Kubernetes keeps a pod alive: when it dies it is
 * started again after a short, growing delay. stop() ends it for good. A process that
 * exits with EX_CONFIG (78) rejected its configuration: starting it again with the same
 * environment cannot help, so it is not restarted and onConfigError says so once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EX_CONFIG } from '../../packages/shared/src/env.ts';

export interface ManagedProcessOptions {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Start it again when it exits on its own. Default: true. */
  restart?: boolean;
  /** Receives each line the process prints, stdout and stderr alike. */
  onLine?: (name: string, line: string) => void;
  /** The process exited with EX_CONFIG and will not be started again. */
  onConfigError?: (name: string) => void;
}

const MAX_RESTART_DELAY_MS = 5_000;

const alive = new Set<ChildProcess>();
// A supervisor that exits must not leave its children running.
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

export class ManagedProcess {
  private child: ChildProcess | null = null;
  private stopped = false;
  private restarts = 0;
  private startedAt = 0;

  constructor(private readonly options: ManagedProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.stopped) return;
    const { command, args, env, cwd, name, onLine } = this.options;
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    alive.add(child);
    this.startedAt = Date.now();
    for (const stream of [child.stdout, child.stderr]) {
      let pending = '';
      stream?.on('data', (chunk: Buffer) => {
        pending += chunk.toString();
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) onLine?.(name, line);
      });
    }
    child.once('exit', (code, signal) => {
      alive.delete(child);
      if (this.child === child) this.child = null;
      if (this.stopped || this.options.restart === false) return;
      if (code === EX_CONFIG) {
        this.stopped = true;
        onLine?.(name, `exited with code ${EX_CONFIG}: its configuration is invalid (above); not restarting`);
        this.options.onConfigError?.(name);
        return;
      }
      // A process that ran a while before dying restarts at once; a crash loop backs off.
      if (Date.now() - this.startedAt > 30_000) this.restarts = 0;
      const delay = Math.min(250 * 2 ** this.restarts, MAX_RESTART_DELAY_MS);
      this.restarts += 1;
      onLine?.(name, `exited (${signal ?? code}); restarting in ${delay} ms`);
      setTimeout(() => this.start(), delay).unref();
    });
  }

  /** Sends a signal without stopping supervision (fault injection: SIGKILL restarts it). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child?.kill(signal);
  }

  /** Ends the process for good: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<number | null> {
    this.stopped = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}
