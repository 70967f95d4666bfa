/**
 * Graceful shutdown: on SIGTERM a worker stops taking jobs, finishes its running job
 * when the grace period allows, or else hands it back to the queue, and exits 0. The
 * supervisor then starts it again, as Kubernetes would start a new pod.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type E2eSystem, startSystem } from './harness.ts';

let system: E2eSystem;

beforeAll(async () => {
  // Planners get a grace far longer than any plan takes, however busy the machine; decoders
  // get 1.5 s, shorter than a big render.
  system = await startSystem({
    env: { SHUTDOWN_GRACE_MS: '600000' },
    decoderEnv: { SHUTDOWN_GRACE_MS: '1500' },
  });
});

afterAll(async () => {
  await system?.stop();
});

const exitsOf = (name: string) => system.logs.filter((line) => line.startsWith(`${name}: exited (`));

it('a planner given SIGTERM mid-plan finishes the plan, then exits 0', async () => {
  const { client, stack } = system;
  const submitted = await client.submit({
    prompt: 'a red circle',
    width: 2048,
    height: 2048,
    steps: 2,
    seed: 11,
  });
  await client.waitFor(submitted.id, (g) => g.status === 'planning', 60_000);
  stack.planners[0]!.kill('SIGTERM');
  const final = await client.waitFor(submitted.id, undefined, 180_000);
  expect(final.status, JSON.stringify(final.error)).toBe('succeeded');
  await expect
    .poll(() => exitsOf('planner-1'), { timeout: 120_000 })
    .toEqual(['planner-1: exited (0); restarting in 250 ms']);
  expect(system.logs.some((line) => line.startsWith('planner-1') && line.includes('handed back'))).toBe(
    false,
  );
});

it('a decoder given SIGTERM past its grace hands the job back, exits 0, and the job still succeeds', async () => {
  const { client, stack } = system;
  const submitted = await client.submit({
    prompt: 'a blue square',
    width: 2048,
    height: 2048,
    steps: 100,
    seed: 12,
  });
  await client.waitFor(submitted.id, (g) => g.status === 'decoding' && (g.progress.step ?? 0) >= 1, 120_000);
  stack.decoders[0]!.kill('SIGTERM');
  await expect
    .poll(() => exitsOf('decoder-1'), { timeout: 120_000 })
    .toEqual(['decoder-1: exited (0); restarting in 250 ms']);
  expect(system.logs.some((line) => line.startsWith('decoder-1') && line.includes('handed back'))).toBe(true);
  const final = await client.waitFor(submitted.id, undefined, 180_000);
  expect(final.status, JSON.stringify(final.error)).toBe('succeeded');
  expect(final.outputs).toHaveLength(1);
});
