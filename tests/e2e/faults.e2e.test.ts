/**
 * Failures a deployment meets: a worker killed in the middle of a job, and a model
 * that fails. Every accepted generation still ends in a state the client can see.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildReferencePack } from '../../packages/inference/src/reference-pack/build-pack.ts';
import { DType, GraphBuilder } from '../../packages/inference/src/reference-pack/graph-builder.ts';
import { type E2eSystem, startSystem } from './harness.ts';

let system: E2eSystem | undefined;
const cleanups: string[] = [];

afterEach(async () => {
  await system?.stop();
  system = undefined;
  for (const dir of cleanups.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('a worker killed with SIGKILL in the middle of a job', () => {
  it('decoder: the job is picked up again and the generation succeeds', async () => {
    system = await startSystem();
    const { client, stack } = system;
    const submitted = await client.submit({
      prompt: 'a red circle on a green background',
      width: 2048,
      height: 2048,
      steps: 60,
      seed: 3,
    });
    await client.waitFor(
      submitted.id,
      (g) => g.status === 'decoding' && (g.progress.step ?? 0) >= 2,
      120_000,
    );
    stack.decoders[0]!.kill('SIGKILL'); // supervised: it comes back, like a restarted pod
    const final = await client.waitFor(submitted.id, undefined, 240_000);
    expect(final.status, JSON.stringify(final.error)).toBe('succeeded');
    expect(final.outputs).toHaveLength(1);
  });

  it('planner: the job is picked up again and the generation succeeds', async () => {
    system = await startSystem();
    const { client, stack } = system;
    const submitted = await client.submit({
      prompt: 'a blue square',
      width: 2048,
      height: 2048,
      steps: 2,
      seed: 5,
    });
    await client.waitFor(submitted.id, (g) => g.status === 'planning', 60_000);
    stack.planners[0]!.kill('SIGKILL');
    const final = await client.waitFor(submitted.id, undefined, 240_000);
    expect(final.status, JSON.stringify(final.error)).toBe('succeeded');
  });

  it('planner in the middle of a batch: every plan it held is picked up again and succeeds', async () => {
    // Two planners of at most 4 plans each and 6 long plans: once all 6 are planning,
    // the first planner holds at least 2 of them in one batch.
    system = await startSystem({ planners: 2, env: { PLANNER_MAX_BATCH: '4' } });
    const { client, stack } = system;
    const sizes: Array<[number, number]> = [
      [2048, 2048],
      [1536, 1536],
      [2048, 1024],
      [2048, 2048],
      [1536, 1536],
      [1024, 2048],
    ];
    const submitted = await Promise.all(
      sizes.map(([width, height], i) =>
        client.submit({
          prompt: `a blue square above ${i + 1} red circles`,
          width,
          height,
          steps: 2,
          seed: 40 + i,
        }),
      ),
    );
    await Promise.all(submitted.map((g) => client.waitFor(g.id, (v) => v.status === 'planning', 120_000)));
    stack.planners[0]!.kill('SIGKILL'); // supervised: it comes back, like a restarted pod
    const finals = await Promise.all(submitted.map((g) => client.waitFor(g.id, undefined, 400_000)));
    for (const final of finals) {
      expect(final.status, JSON.stringify(final.error)).toBe('succeeded');
      expect(final.outputs).toHaveLength(1);
    }
  });
});

/** A denoiser with the contract's inputs and outputs whose graph fails when run. */
function failingDenoiser(): Uint8Array {
  const g = new GraphBuilder('failing-denoiser');
  const sample = g.input('sample', DType.float, ['batch', 16, 'h', 'w']);
  g.input('timestep', DType.float, ['batch']);
  g.input('prior_token_id', DType.int64, ['batch', 'ph', 'pw']);
  g.input('prior_token_drop', DType.bool, ['batch']);
  g.input('glyph_ids', DType.int64, ['batch', 'glyphs']);
  // Reshaping to 7 elements cannot succeed for any real latent.
  const broken = g.op('Reshape', [sample, g.constInt64([7], [1])]);
  g.output('velocity', broken, DType.float, ['batch', 16, 'h', 'w']);
  return g.toBytes();
}

describe('a model error', () => {
  it('ends the generation failed with a code, without retrying', async () => {
    const pack = await mkdtemp(join(tmpdir(), 'glm-broken-pack-'));
    cleanups.push(pack);
    // Text-to-image only: its denoiser has no reference-cache inputs to declare.
    await buildReferencePack(pack, { referenceImages: false });
    await writeFile(join(pack, 'denoiser.onnx'), failingDenoiser());
    system = await startSystem({ decoderEnv: { MODEL_PACK_PATH: pack } });
    const { client } = system;
    const submitted = await client.submit({ prompt: 'a red circle', width: 512, height: 512, steps: 2 });
    const final = await client.waitFor(submitted.id, undefined, 60_000);
    expect(final.status).toBe('failed');
    expect(final.error?.code).toBe('model_error');
  });
});
