/**
 * The writer of the SSE watchers benchmark: a process of its own, as a worker is, with
 * its own Redis connection and generation store, so that the pace of the events it
 * writes does not depend on how busy the API's process is. Told the generations, it
 * writes a progress event for each every `progressMs` (the generations spread evenly over
 * that time), `steps` times, each stamped with the wall-clock time of its write
 * (`metadata.sent_at`), then moves them to succeeded and says how far behind its schedule
 * it fell at worst.
 */
import { GenerationStore } from '@glm-image/shared/generation-store';
import { createRedis } from '@glm-image/shared/redis';

export type ToWriter = { type: 'write'; ids: string[]; steps: number; progressMs: number };
export type FromWriter = { type: 'connected' } | { type: 'written'; worstLagMs: number };

const redisUrl = process.argv[2];
if (!redisUrl) throw new Error('usage: writer.ts <redis url>');
const redis = createRedis(redisUrl);
const store = new GenerationStore(redis);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

await redis.ping();
process.send?.({ type: 'connected' } satisfies FromWriter);

process.on('message', async (message: ToWriter) => {
  const gap = message.progressMs / message.ids.length;
  let due = performance.now();
  let worstLagMs = 0;
  for (let step = 1; step <= message.steps; step++) {
    for (const id of message.ids) {
      due += gap;
      const early = due - performance.now();
      if (early > 0) await sleep(early);
      else worstLagMs = Math.max(worstLagMs, -early);
      const progress = { stage: 'decoding' as const, step, total: message.steps };
      await store.update(id, { progress, metadata: { sent_at: now() } });
    }
  }
  for (const id of message.ids) await store.transition(id, 'succeeded');
  process.send?.({ type: 'written', worstLagMs: Number(worstLagMs.toFixed(1)) } satisfies FromWriter);
});
