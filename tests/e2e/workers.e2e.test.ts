/**
 * Several planner and decoder processes on the same queues: every generation finishes
 * exactly once, with exactly one set of objects in the store.
 */

import { afterAll, beforeAll, expect, it } from 'vitest';
import { listObjectKeys } from '../../packages/testing/src/s3-server.ts';
import { type E2eSystem, startSystem } from './harness.ts';

let system: E2eSystem;

beforeAll(async () => {
  system = await startSystem({ planners: 2, decoders: 2 });
});

afterAll(async () => {
  await system?.stop();
});

it('finishes every generation exactly once with exactly one set of objects', async () => {
  const { client } = system;
  const prompts = [
    'a red circle',
    'a blue square on a yellow background',
    'a green triangle',
    'a pink circle on a black background',
    'an orange square',
    'a purple circle',
  ];
  const submitted = await Promise.all(
    prompts.map((prompt, i) =>
      client.submit({ prompt, width: 512, height: 512, steps: 3, seed: i, n: i % 2 === 0 ? 1 : 2 }),
    ),
  );
  const finished = await Promise.all(submitted.map((g) => client.waitFor(g.id, undefined, 180_000)));
  for (const [i, g] of finished.entries()) {
    expect(g.status, `${g.id}: ${JSON.stringify(g.error)}`).toBe('succeeded');
    expect(g.outputs).toHaveLength(i % 2 === 0 ? 1 : 2);
  }

  const keys = await listObjectKeys(system.s3);
  for (const [i, g] of finished.entries()) {
    const own = keys.filter((key) => key.includes(`/${g.id}/`)).sort();
    const images = own.filter((key) => /\/\d+\.png$/.test(key));
    expect(images).toHaveLength(i % 2 === 0 ? 1 : 2);
    expect(own.filter((key) => key.endsWith('preview.png'))).toHaveLength(1);
  }
  // Nothing stored for generations that do not exist.
  const ids = new Set(finished.map((g) => g.id));
  const owners = new Set(keys.map((key) => key.split('/')[2]));
  expect([...owners].filter((id) => !ids.has(id!))).toEqual([]);
});
