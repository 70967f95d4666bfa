import { outputKey, previewKey, tokensKey } from '@glm-image/shared/storage';
import { encodeStoredPlan } from '@glm-image/shared/tokens';
import sharp from 'sharp';
import type { ApiStack, KEYS } from './api-stack.ts';

/**
 * Generations stored the way the workers leave them, for tests that need every resource
 * of a generation to exist: a reference image (stored by the API itself), a preview, an
 * output, the stored plan a re-render decodes, and the event stream.
 */

/** A tiny plan; nothing decodes it in these tests, a re-render only copies it. */
const PLAN = {
  preview: { rows: 2, cols: 2, tokens: [1, 2, 3, 4] },
  main: { rows: 2, cols: 2, tokens: [5, 6, 7, 8] },
};

export async function referencePng(): Promise<Buffer> {
  return sharp({ create: { width: 96, height: 96, channels: 3, background: { r: 20, g: 90, b: 200 } } })
    .png()
    .toBuffer();
}

/** Submits over HTTP as `key`, then stores a preview, one output and the plan, and ends it succeeded. */
export async function seedSucceeded(stack: ApiStack, key: keyof typeof KEYS): Promise<string> {
  const reference = `data:image/png;base64,${(await referencePng()).toString('base64')}`;
  const res = await stack.app.inject({
    method: 'POST',
    url: '/v1/generations',
    headers: stack.auth(key),
    payload: { prompt: 'a seeded generation', width: 512, height: 512, reference_images: [reference] },
  });
  if (res.statusCode !== 202) throw new Error(`seed submit: HTTP ${res.statusCode} ${res.body}`);
  const { id } = res.json() as { id: string };
  const { tenant } = (await stack.context.store.get(id))!;
  const png = await referencePng();
  const objects = stack.context.objects;
  await objects.put(tokensKey(tenant, id), encodeStoredPlan(PLAN), 'application/json');
  await objects.put(previewKey(tenant, id), png, 'image/png');
  const stored = await objects.put(outputKey(tenant, id, 0, 'png'), png, 'image/png');
  await stack.advance(id, [
    ['planning'],
    ['decoding', { preview: { key: previewKey(tenant, id), width: 96, height: 96 } }],
  ]);
  await stack.context.lifecycle.succeed(id, {
    outputs: [{ key: outputKey(tenant, id, 0, 'png'), width: 512, height: 512, format: 'png', ...stored }],
  });
  return id;
}

/** Submits over HTTP as `key` and leaves it queued. */
export async function seedQueued(stack: ApiStack, key: keyof typeof KEYS): Promise<string> {
  const res = await stack.app.inject({
    method: 'POST',
    url: '/v1/generations',
    headers: stack.auth(key),
    payload: { prompt: 'a queued generation', width: 512, height: 512 },
  });
  if (res.statusCode !== 202) throw new Error(`seed submit: HTTP ${res.statusCode} ${res.body}`);
  return (res.json() as { id: string }).id;
}
