/**
 * Load the way a busy tenant makes it: a burst of submissions whenever the backlog runs
 * low, so the planners are handed batches while the decoders work through what came
 * before, and every worker holds jobs most of the time. Each submission must be accepted:
 * a worker dying behind the queues is no reason for the API to refuse work.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ApiClient } from '../../e2e/harness.ts';

export interface BurstyLoadOptions {
  client: ApiClient;
  /** How many of the tenant's generations are not yet finished. */
  unfinished(): Promise<number>;
  /** Submit the next burst once fewer than this many are unfinished. */
  lowWater: number;
  burst: number;
  /** The request body of the n-th generation (from 0). */
  body(n: number): Record<string, unknown>;
  /** Told each accepted generation, in submission order. */
  onAccepted?(n: number, id: string): void;
  /** Whether to go on submitting, given how many were accepted. */
  more(accepted: number): boolean;
}

/** Submits until `more` says stop; resolves with every accepted id, in submission order. */
export async function runBurstyLoad(options: BurstyLoadOptions): Promise<string[]> {
  const ids: string[] = [];
  while (options.more(ids.length)) {
    if ((await options.unfinished()) >= options.lowWater) {
      await sleep(50);
      continue;
    }
    const first = ids.length;
    const accepted = await Promise.all(
      Array.from({ length: options.burst }, (_, i) => options.client.submit(options.body(first + i))),
    );
    for (const [i, generation] of accepted.entries()) {
      ids.push(generation.id);
      options.onAccepted?.(first + i, generation.id);
    }
  }
  return ids;
}
