/**
 * `npm start` on a bad environment: one message listing every problem, exit 78, and
 * nothing started (no Redis, no S3 server, no application process).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stackEnvProblems } from './stack/stack-env.ts';
import { REPO_ROOT } from './stack/start-stack.ts';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'glm-local-stack-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function launch(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/local-stack.ts'], {
    cwd: REPO_ROOT,
    // Its own data directory: a launcher that started anything would leave it behind there.
    env: { ...process.env, LOCAL_DATA_DIR: join(dataDir, 'local'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr })),
  );
}

describe('npm start with a bad environment', () => {
  it('stops at once with one message and exit code 78, starting nothing', async () => {
    const run = await launch({ DEV_API_KEY: 'short' });
    expect(run.code).toBe(78);
    expect(run.stderr.match(/DEV_API_KEY/g)).toHaveLength(1);
    expect(run.stderr).toContain('DEV_API_KEY: must be at least 16 characters');
    expect(run.stderr).toContain('nothing was started');
    expect(run.stdout).toBe('');
    expect(existsSync(join(dataDir, 'local'))).toBe(false);
  });

  it('lists every problem of every process together, each once', async () => {
    const run = await launch({
      DEV_API_KEY: 'short',
      PORT: 'eighty',
      PLANNER_CONCURRENCY: '0',
      JOB_ATTEMPTS: 'x',
    });
    expect(run.code).toBe(78);
    for (const variable of ['DEV_API_KEY', 'PORT', 'PLANNER_CONCURRENCY', 'JOB_ATTEMPTS']) {
      // JOB_ATTEMPTS is read by all three processes, and still named once.
      expect(run.stderr.match(new RegExp(`- ${variable}:`, 'g')), variable).toHaveLength(1);
    }
  });

  it('accepts the environment npm start is given by default', () => {
    expect(
      stackEnvProblems({}, { devApiKey: 'dev_0123456789abcdef', modelPackPath: 'model-packs/reference' }),
    ).toEqual([]);
  });
});
