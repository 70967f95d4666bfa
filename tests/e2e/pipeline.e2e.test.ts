/**
 * The whole pipeline over HTTP only: submit, poll, download, and look at the image.
 * One API, one planner and one decoder process against a real Redis and S3 server.
 */
import { request } from 'node:http';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitBodyLimit } from '../../apps/api/src/routes/generations.ts';
import { DEFAULT_REFERENCE_IMAGE_LIMITS } from '../../packages/inference/src/reference-images/reference-image.ts';
import {
  dominantChannel,
  meanColour,
  readTextLine,
} from '../../packages/inference/src/testing/image-checks.ts';
import { API_KEY, type E2eSystem, startSystem } from './harness.ts';

let system: E2eSystem;

beforeAll(async () => {
  system = await startSystem();
});

afterAll(async () => {
  await system?.stop();
});

describe('a generation, end to end over HTTP', () => {
  it('renders an image that follows the prompt: size, colours and the quoted text', async () => {
    const { client } = system;
    const submitted = await client.submit({
      prompt: 'a red circle on a blue background with a sign that says "HELLO"',
      width: 512,
      height: 512,
      steps: 12,
      seed: 7,
    });
    expect(submitted.status).toBe('queued');

    const done = await client.waitFor(submitted.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.outputs).toHaveLength(1);
    const output = done.outputs[0]!;
    expect(output).toMatchObject({ width: 512, height: 512, format: 'png' });

    const image = await client.download(output.url);
    expect(image.byteLength).toBe(output.bytes);
    const meta = await sharp(image).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 512, 512]);

    // The planner moves the shape up when there is text, and lays the text out below it.
    expect(dominantChannel(await meanColour(image, { x: 0.42, y: 0.3, w: 0.16, h: 0.12 }))).toBe('red');
    expect(dominantChannel(await meanColour(image, { x: 0.0, y: 0.0, w: 0.08, h: 0.08 }))).toBe('blue');
    expect(dominantChannel(await meanColour(image, { x: 0.92, y: 0.0, w: 0.08, h: 0.08 }))).toBe('blue');
    const text = await readTextLine(image, { x: 0.08, y: 0.7, w: 0.84, h: 0.2 });
    expect(text.replace(/\s+/g, '')).toContain('HELLO');

    // The layout preview came first, from the planner.
    expect(done.preview).toBeDefined();
    const preview = await client.download(done.preview!.url);
    expect((await sharp(preview).metadata()).format).toBe('png');
    expect(done.timings.plan_ms).toBeGreaterThanOrEqual(0);
    expect(done.timings.decode_ms).toBeGreaterThan(0);
  });

  it('renders n images, each a different image of the same prompt', async () => {
    const { client } = system;
    const submitted = await client.submit({
      prompt: 'a green square on a white background',
      width: 512,
      height: 768,
      steps: 4,
      n: 2,
      output_format: 'webp',
    });
    const done = await client.waitFor(submitted.id);
    expect(done.status).toBe('succeeded');
    expect(done.outputs.map((o) => [o.width, o.height, o.format])).toEqual([
      [512, 768, 'webp'],
      [512, 768, 'webp'],
    ]);
    expect(done.outputs[0]!.sha256).not.toBe(done.outputs[1]!.sha256);
    const image = await client.download(done.outputs[1]!.url);
    expect((await sharp(image).metadata()).format).toBe('webp');
  });

  it('cancels a generation while it is queued: it never runs', async () => {
    const { client, stack } = system;
    // A paused planner cannot take the job, so it stays queued until canceled.
    stack.planners[0]!.kill('SIGSTOP');
    try {
      const submitted = await client.submit({ prompt: 'a blue circle', width: 512, height: 512, steps: 4 });
      const canceled = await client.cancel(submitted.id);
      expect(canceled.status).toBe('canceled');
    } finally {
      stack.planners[0]!.kill('SIGCONT');
    }
  });

  it('cancels a generation while it is decoding and frees the decoder', async () => {
    const { client } = system;
    const submitted = await client.submit({
      prompt: 'a yellow circle on a purple background',
      width: 2048,
      height: 2048,
      steps: 100,
      seed: 1,
    });
    await client.waitFor(
      submitted.id,
      (g) => g.status === 'decoding' && (g.progress.step ?? 0) >= 1,
      120_000,
    );
    await client.cancel(submitted.id);
    const final = await client.waitFor(submitted.id, undefined, 30_000);
    expect(final.status).toBe('canceled');
    expect(final.outputs).toHaveLength(0);

    const next = await client.submit({ prompt: 'a red square', width: 512, height: 512, steps: 2 });
    expect((await client.waitFor(next.id, undefined, 60_000)).status).toBe('succeeded');
    // The test's own limit covers its three waits: planning 2048x2048 is slow on a busy machine.
  });

  it('canceling a finished generation is a no-op that returns its final state', async () => {
    const { client } = system;
    const submitted = await client.submit({
      prompt: 'a white circle on a black background',
      width: 512,
      height: 512,
      steps: 2,
    });
    await client.waitFor(submitted.id);
    expect((await client.cancel(submitted.id)).status).toBe('succeeded');
  });
});

describe('bad input gets a clear 4xx', () => {
  const post = (body: string, headers: Record<string, string> = {}) =>
    system.client.request('/v1/generations', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
    });

  it.each([
    ['a missing prompt', { width: 512 }, 'prompt'],
    ['an empty prompt', { prompt: '' }, 'prompt'],
    ['a width that is not a multiple of 32', { prompt: 'x', width: 500, height: 512 }, 'width'],
    ['a size beyond the model pack', { prompt: 'x', width: 4096, height: 512 }, 'width'],
    ['too many images', { prompt: 'x', n: 5 }, 'n'],
    ['an unknown output format', { prompt: 'x', output_format: 'gif' }, 'output_format'],
    ['an unknown field', { prompt: 'x', colour: 'red' }, 'colour'],
    ['a seed out of range', { prompt: 'x', seed: -1 }, 'seed'],
  ])('400 for %s, naming the field', async (_name, body, field) => {
    const res = await post(JSON.stringify(body));
    expect(res.status).toBe(400);
    const error = ((await res.json()) as { error: { code: string; message: string } }).error;
    expect(error.message).toContain(field);
  });

  it('400 for malformed JSON', async () => {
    expect((await post('{"prompt": ')).status).toBe(400);
  });

  it('415 for a body that is not JSON', async () => {
    expect((await post('prompt=x', { 'content-type': 'text/plain' })).status).toBe(415);
  });

  it('413 for a body that is too large', async () => {
    // The API refuses on the declared length, before the upload ends: announce more than
    // a submit may carry (four reference images of the largest size, inline), send a
    // first chunk and read the answer.
    const size = submitBodyLimit(DEFAULT_REFERENCE_IMAGE_LIMITS.maxBytes) + 1;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(new URL('/v1/generations', system.stack.apiUrl), {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': size,
          authorization: `Bearer ${API_KEY}`,
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write(`{"prompt":"${'x'.repeat(1000)}`);
    });
    expect(status).toBe(413);
  });

  it('401 without a key or with a wrong key', async () => {
    const body = JSON.stringify({ prompt: 'x' });
    const url = new URL('/v1/generations', system.stack.apiUrl);
    const noKey = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(noKey.status).toBe(401);
    const wrong = await fetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}x` },
    });
    expect(wrong.status).toBe(401);
  });

  it('404 for an unknown generation', async () => {
    expect((await system.client.request('/v1/generations/does-not-exist')).status).toBe(404);
  });
});
