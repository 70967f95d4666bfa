import { describe, expect, it } from 'vitest';
import { freePort } from '../../packages/testing/src/free-port.ts';
import { ManagedProcess } from './managed-process.ts';
import { REPO_ROOT, StackConfigError, startStack } from './start-stack.ts';

/** A process that rejects its configuration (exit 78) is not restarted, and a stack start fails on it. */

describe('exit code 78', () => {
  it('is final: the process is not started again and the supervisor is told once', async () => {
    const starts: string[] = [];
    const told: string[] = [];
    let exited!: () => void;
    const done = new Promise<void>((resolve) => {
      exited = resolve;
    });
    const proc = new ManagedProcess({
      name: 'bad-config',
      command: process.execPath,
      args: ['-e', 'console.log("started"); process.exit(78)'],
      env: process.env,
      onLine: (_name, line) => {
        if (line === 'started') starts.push(line);
        if (line.includes('not restarting')) exited();
      },
      onConfigError: (name) => told.push(name),
    });
    proc.start();
    await done;
    expect(told).toEqual(['bad-config']);
    expect(starts).toHaveLength(1);
    expect(proc.pid).toBeUndefined();
    await proc.stop();
  });

  it('fails a stack start with the name of the process, without waiting for readiness', async () => {
    // Nothing listens at these addresses: the API exits on its environment before it would connect.
    const error = await startStack({
      redisUrl: `redis://127.0.0.1:${await freePort()}`,
      s3: { endpoint: 'http://127.0.0.1:9', bucket: 'generations', accessKeyId: 'a', secretAccessKey: 'b' },
      port: await freePort(),
      devApiKey: 'a-valid-development-key',
      modelPackPath: `${REPO_ROOT}model-packs/reference`,
      env: { API_KEYS: 'not json', LOG_LEVEL: 'silent' },
      planners: 0,
      decoders: 0,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StackConfigError);
    expect((error as StackConfigError).processName).toBe('api');
  });
});
