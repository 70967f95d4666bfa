import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'apps/*/src/**/*.test.ts',
      'packages/*/src/**/*.test.ts',
      'deploy/**/*.test.ts',
      'scripts/**/*.test.ts',
      'tests/**/*.test.ts',
    ],
    // The fault suite runs on its own: npm run test:faults (vitest.faults.config.ts).
    exclude: ['**/node_modules/**', 'tests/faults/**'],
    // Integration tests start their own redis-server, S3 server and worker processes;
    // two cores cannot run many of those side by side without starving BullMQ locks.
    fileParallelism: true,
    maxWorkers: 2,
    // Limits only catch a hang: every test waits for conditions, and a busy machine may
    // take minutes over what an idle one does in seconds.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    // expect.poll waits for a condition; its default of 1 s would make a slow machine fail.
    expect: { poll: { timeout: 120_000 } },
    env: { AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING: 'true', NODE_NO_WARNINGS: '1' },
  },
});
