/**
 * Reads of one generation: by id for its tenant (another tenant's id is
 * indistinguishable from an unknown one), and waiting for its end through the process's
 * event hub rather than polling or holding a connection per waiter.
 */
import { NotFoundError } from '@glm-image/shared/errors';
import { type GenerationRecord, isTerminal } from '@glm-image/shared/generation';
import type { GenerationStore } from '@glm-image/shared/generation-store';
import { canSee, type Principal } from '../plugins/auth.ts';
import type { EventHub } from './event-hub.ts';

/**
 * The characters generation ids are made of (`gen_` and a ULID). A path id outside them
 * names nothing, and is never made into a key: `gen_x:events` would name the event
 * stream of `gen_x` instead of a record.
 */
export const GENERATION_ID = /^[A-Za-z0-9_-]{1,128}$/;

export class GenerationReads {
  constructor(
    private readonly store: GenerationStore,
    private readonly events: EventHub,
  ) {}

  async find(principal: Principal, id: string): Promise<GenerationRecord> {
    if (!GENERATION_ID.test(id)) throw new NotFoundError('No such generation');
    const record = await this.store.get(id);
    if (!record || !canSee(principal, record.tenant)) throw new NotFoundError(`No generation ${id}`);
    return record;
  }

  /**
   * Waits until the generation ends, `seconds` pass, `signal` aborts or the API shuts
   * down; returns the latest record either way.
   */
  async waitForEnd(id: string, seconds: number, signal?: AbortSignal): Promise<GenerationRecord | null> {
    // The latest event's id before the record: an end the record does not show yet is an
    // event after that id, which the watch below is handed.
    const after = await this.store.lastEventId(id);
    const record = await this.store.get(id);
    if (!record || isTerminal(record.status) || signal?.aborted) return record;
    const watch = this.events.watch(id, after ?? '0');
    const stop = () => watch.close();
    const deadline = setTimeout(stop, seconds * 1000);
    signal?.addEventListener('abort', stop, { once: true });
    try {
      for (let events = await watch.next(); events; events = await watch.next()) {
        const end = events.find((event) => isTerminal(event.data.status));
        if (end) return end.data;
      }
      return (await this.store.get(id)) ?? record;
    } finally {
      clearTimeout(deadline);
      signal?.removeEventListener('abort', stop);
      watch.close();
    }
  }
}
