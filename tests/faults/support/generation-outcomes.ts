/**
 * What became of each generation, read from where it is recorded: its event stream in
 * Redis (every status change is one event, so an ending written twice shows as two) and
 * the objects in the bucket (listed with `listObjectKeys` of the S3 test server).
 */
import type { GenerationStore } from '@glm-image/shared/generation-store';

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
