/**
 * Reference images (image-to-image) at the API: what is accepted, where it is stored,
 * how each bad image is refused, and renders that take them along. Against a real Redis
 * and S3; no workers run.
 */
import { createHash } from 'node:crypto';
import { referencePackManifest } from '@glm-image/inference/reference-pack';
import type { GenerationRecord } from '@glm-image/shared/generation';
import { decodeJobId } from '@glm-image/shared/queues';
import { tokensKey } from '@glm-image/shared/storage';
import { encodeStoredPlan, type TokenGrid } from '@glm-image/shared/tokens';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiStack, startApiStack } from '../testing/api-stack.ts';

/** Small, so that an image over it is cheap to send. */
const MAX_BYTES = 64 * 1024;
/** Objects are published under this base; the API maps such URLs back to keys, it never fetches them. */
const PUBLIC_BASE = 'https://cdn.example.com/media';

let stack: ApiStack;
beforeAll(async () => {
  stack = await startApiStack({
    env: { REFERENCE_IMAGE_MAX_BYTES: String(MAX_BYTES), S3_PUBLIC_BASE_URL: PUBLIC_BASE },
  });
});
afterAll(async () => {
  await stack?.close();
});

const picture = (width: number, height: number, format: 'png' | 'jpeg' | 'webp' = 'png') =>
  sharp({ create: { width, height, channels: 3, background: { r: 220, g: 30, b: 30 } } })
    [format]()
    .toBuffer();
const dataUrl = (bytes: Buffer, type = 'image/png') => `data:${type};base64,${bytes.toString('base64')}`;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function submit(body: Record<string, unknown>, key: 'acme' | 'globex' = 'acme') {
  return stack.app.inject({
    method: 'POST',
    url: '/v1/generations',
    headers: stack.auth(key),
    payload: body,
  });
}

async function refused(referenceImages: unknown, index: number | null) {
  const before = (await stack.context.store.listByTenant('acme', { limit: 100, cursor: null })).items.length;
  const res = await submit({ prompt: 'make the background green', reference_images: referenceImages });
  expect(res.statusCode, res.body).toBe(400);
  const { error } = res.json();
  expect(error.code).toBe('invalid_input');
  expect(error.message).toMatch(index === null ? /^reference_images: / : `reference_images[${index}]: `);
  // Nothing was created.
  const after = (await stack.context.store.listByTenant('acme', { limit: 100, cursor: null })).items.length;
  expect(after).toBe(before);
  return error.message as string;
}

describe('reference_images on submit', () => {
  it('stores PNG, JPEG and WebP data URLs with the generation, read by their content', async () => {
    const images = [
      await picture(300, 200, 'png'),
      await picture(128, 128, 'jpeg'),
      await picture(64, 96, 'webp'),
    ];
    // The declared type proves nothing; the bytes decide.
    const res = await submit({
      prompt: 'make the background green',
      reference_images: [dataUrl(images[0]!), dataUrl(images[1]!, 'image/png'), dataUrl(images[2]!)],
    });
    expect(res.statusCode, res.body).toBe(202);
    const view = res.json();
    expect(view.input.decode).toBe(true);
    expect(view.input.reference_images).toMatchObject([
      { format: 'png', width: 300, height: 200, bytes: images[0]!.byteLength, sha256: sha256(images[0]!) },
      { format: 'jpeg', width: 128, height: 128, sha256: sha256(images[1]!) },
      { format: 'webp', width: 64, height: 96, sha256: sha256(images[2]!) },
    ]);
    const record = (await stack.context.store.get(view.id))!;
    for (const [i, reference] of (record.input.reference_images ?? []).entries()) {
      expect(reference.key).toMatch(
        new RegExp(`^generations/acme/${view.id}/reference-${i}\\.(png|jpg|webp)$`),
      );
      expect((await stack.context.objects.getBuffer(reference.key)).equals(images[i]!)).toBe(true);
      expect(view.input.reference_images[i].url).toBe(`${PUBLIC_BASE}/${reference.key}`);
    }
    // And through the API's own route, for clients that cannot reach the bucket.
    const streamed = await stack.app.inject({
      url: `/v1/generations/${view.id}/references/1`,
      headers: stack.auth('acme'),
    });
    expect(streamed.statusCode).toBe(200);
    expect(streamed.rawPayload.equals(images[1]!)).toBe(true);
    const missing = await stack.app.inject({
      url: `/v1/generations/${view.id}/references/3`,
      headers: stack.auth('acme'),
    });
    expect(missing.statusCode).toBe(404);
  });

  it('accepts the URL of an image of yours that this deployment stores, and no one else does', async () => {
    const image = await picture(200, 200);
    const first = (await submit({ prompt: 'a', reference_images: [dataUrl(image)] })).json();
    const stored = first.input.reference_images[0];
    const apiUrl = `${stack.context.env.PUBLIC_API_URL}/v1/generations/${first.id}/references/0`;
    for (const url of [stored.url, apiUrl]) {
      const res = await submit({ prompt: 'make the background green', reference_images: [url] });
      expect(res.statusCode, res.body).toBe(202);
      expect(res.json().input.reference_images[0]).toMatchObject({ sha256: sha256(image), width: 200 });
    }
    // Another tenant's images are not yours, by either kind of link.
    for (const url of [stored.url, apiUrl]) {
      const res = await submit({ prompt: 'x', reference_images: [url] }, 'globex');
      expect(res.statusCode).toBe(400);
      expect(res.json().error.message).toMatch(/^reference_images\[0\]: names no image of yours/);
    }
    // An output that does not exist yet names nothing.
    const noOutput = await submit({
      prompt: 'x',
      reference_images: [`${stack.context.env.PUBLIC_API_URL}/v1/generations/${first.id}/outputs/0`],
    });
    expect(noOutput.json().error.message).toMatch(/^reference_images\[0\]: names no image of yours/);
  });

  it('refuses each bad image with a 400 naming it and the problem, storing nothing', async () => {
    const good = dataUrl(await picture(100, 100));
    expect(await refused([good, dataUrl(Buffer.from('just some text, not pixels'))], 1)).toMatch(
      /not an image/,
    );
    const png = await sharp({
      create: {
        width: 160,
        height: 160,
        channels: 3,
        background: 'black',
        noise: { type: 'gaussian', mean: 128, sigma: 50 },
      },
    })
      .png()
      .toBuffer();
    expect(png.byteLength).toBeGreaterThan(MAX_BYTES);
    expect(await refused([good, good, dataUrl(png)], 2)).toMatch(/at most 65536 bytes/);
    const truncated = (await picture(120, 120)).subarray(0, 200);
    expect(await refused([dataUrl(truncated)], 0)).toMatch(/truncated or corrupt/);
    expect(await refused([good, dataUrl(await picture(32, 200))], 1)).toMatch(/32x200 pixels/);
    expect(await refused([dataUrl(await picture(4100, 64))], 0)).toMatch(/4100x64 pixels/);
    expect(await refused([good, good, good, good, good], null)).toMatch(/at most 4 reference images/);
    expect(await refused(['data:image/png,not-base64'], 0)).toMatch(/base64/);
    expect(await refused(['data:image/png;base64'], 0)).toMatch(/comma/);
    // URLs of other hosts are never fetched: the cloud metadata service included.
    expect(await refused([good, 'https://example.com/cat.png'], 1)).toMatch(/not this deployment's/);
    expect(await refused(['http://169.254.169.254/latest/meta-data/'], 0)).toMatch(/not this deployment's/);
    expect(await refused([`${PUBLIC_BASE}/generations/acme/gen_none/reference-0.png`], 0)).toMatch(
      /names no stored image/,
    );
    expect(await refused(['not a url at all'], 0)).toMatch(/data: URL or the URL of an image/);
  });

  it('answers 400 unsupported when the model pack takes no reference images', async () => {
    const textOnly = await startApiStack({ manifest: referencePackManifest({ referenceImages: false }) });
    try {
      const res = await textOnly.app.inject({
        method: 'POST',
        url: '/v1/generations',
        headers: textOnly.auth('acme'),
        payload: { prompt: 'x', reference_images: [dataUrl(await picture(100, 100))] },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toMatchObject({ code: 'unsupported' });
      expect(res.json().error.message).toContain('reference_images');
    } finally {
      await textOnly.close();
    }
  });
});

describe('decode: false and renders', () => {
  const grid = (token: number): TokenGrid => ({ rows: 16, cols: 16, tokens: new Array(256).fill(token) });

  it('accepts a plan-only request, and renders it later with its reference images', async () => {
    const image = await picture(256, 256);
    const res = await submit({
      prompt: 'make the background green',
      width: 512,
      height: 512,
      decode: false,
      reference_images: [dataUrl(image)],
    });
    expect(res.statusCode, res.body).toBe(202);
    const source = res.json();
    expect(source.input.decode).toBe(false);

    // What the planner would leave: the plan with the reference's tokens, and success.
    const references = [grid(4200)];
    await stack.context.objects.put(
      tokensKey('acme', source.id),
      encodeStoredPlan({ preview: grid(1), main: grid(2), references }),
      'application/json',
    );
    await stack.advance(source.id, [['planning'], ['succeeded']]);

    const render = await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${source.id}/renders`,
      headers: stack.auth('acme'),
      payload: { seed: 9 },
    });
    expect(render.statusCode, render.body).toBe(202);
    const rendered = render.json();
    expect(rendered.input).toMatchObject({ source_generation_id: source.id, decode: true, seed: 9 });
    const record = (await stack.context.store.get(rendered.id)) as GenerationRecord;
    // The references were copied to the render: its own retention covers them.
    const [copy] = record.input.reference_images ?? [];
    expect(copy?.key).toBe(`generations/acme/${rendered.id}/reference-0.png`);
    expect((await stack.context.objects.getBuffer(copy!.key)).equals(image)).toBe(true);
    const job = await stack.context.decodeQueue.getJob(decodeJobId(rendered.id));
    expect(job?.data).toMatchObject({ generationId: rendered.id, main: grid(2), references });
  });
});
