import { defineConfig } from 'vitest/config';

/**
 * The fault suite (`npm run test:faults`): long runs that kill workers, restart Redis,
 * take the object store away, run a Redis Cluster and fuzz every route. One file at a
 * time: each one loads the two cores on purpose, and faults injected side by side would
 * blur which one a failure belongs to.
 */
export default defineConfig({
  test: {
    include: ['tests/faults/**/*.fault.test.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    // Limits only catch a hang: every test waits for conditions.
    testTimeout: 1_200_000,
    hookTimeout: 300_000,
    expect: { poll: { timeout: 300_000 } },
    env: { AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING: 'true', NODE_NO_WARNINGS: '1' },
  },
});
