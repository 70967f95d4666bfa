import type { RedisClient } from '@glm-image/shared/redis';
import type { Queue } from 'bullmq';

/**
 * Where a waiting job stands in its queue, 1-based, or null when it is not waiting
 * (already taken by a worker, or removed). BullMQ hands out the plain wait list before
 * prioritized jobs, and the API always sets a priority, so a job's place is its rank in
 * the prioritized set plus whatever sits in the wait list.
 */
/** `redis` must reach the queue's server; the API shares one connection with its queues. */
export async function queuePosition(queue: Queue, redis: RedisClient, jobId: string): Promise<number | null> {
  const results = await redis
    .multi()
    .zrank(queue.keys['prioritized'] ?? queue.toKey('prioritized'), jobId)
    .llen(queue.keys['wait'] ?? queue.toKey('wait'))
    .lpos(queue.keys['wait'] ?? queue.toKey('wait'), jobId)
    .exec();
  if (!results) return null;
  const [[, rank], [, waitLength], [, waitIndex]] = results as [
    [unknown, number | null],
    [unknown, number],
    [unknown, number | null],
  ];
  if (typeof rank === 'number') return waitLength + rank + 1;
  // The wait list is consumed from its tail, so the last element runs next.
  if (typeof waitIndex === 'number') return waitLength - waitIndex;
  return null;
}
