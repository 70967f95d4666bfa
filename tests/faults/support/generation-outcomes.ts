/**
 * What became of each generation, read from where it is recorded: its event stream in
 * Redis (every status change is one event, so an ending written twice shows as two) and
 * the objects in the bucket.
 */
import { ListObjectsCommand, S3Client } from '@aws-sdk/client-s3';
import type { GenerationStore } from '@glm-image/shared/generation-store';
import type { S3ServerHandle } from '../../../packages/testing/src/s3-server.ts';

const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

/** The terminal statuses the generation's events recorded, in order: one, for a generation that ended once. */
export async function endingsOf(store: GenerationStore, id: string): Promise<string[]> {
  const endings: string[] = [];
  let after = '0';
  for (;;) {
    const events = await store.readEvents(id, after, { count: 500 });
    if (events.length === 0) return endings;
    for (const event of events) {
      if (event.type === 'status' && TERMINAL.has(event.data.status)) endings.push(event.data.status);
    }
    after = events.at(-1)!.id;
  }
}

/**
 * Every key in the bucket. Pages by marker (ListObjects): s3rver's continuation tokens
 * use a cipher OpenSSL 3 no longer offers, so a truncated ListObjectsV2 page fails there.
 */
export async function listObjectKeys(s3: S3ServerHandle): Promise<string[]> {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  const keys: string[] = [];
  try {
    for (;;) {
      const page = await client.send(new ListObjectsCommand({ Bucket: s3.bucket, Marker: keys.at(-1) }));
      for (const item of page.Contents ?? []) keys.push(item.Key!);
      if (!page.IsTruncated) return keys;
    }
  } finally {
    client.destroy();
  }
}

/** The bucket's keys by the generation they belong to (the path segment that names it). */
export function keysByGeneration(keys: readonly string[], ids: Iterable<string>): Map<string, string[]> {
  const byId = new Map<string, string[]>();
  for (const id of ids) byId.set(id, []);
  for (const key of keys) {
    const owner = key.split('/').find((segment) => byId.has(segment));
    if (owner) byId.get(owner)!.push(key);
    else byId.set(`(unknown) ${key}`, [key]);
  }
  return byId;
}
