/**
 * Reads of one generation: by id for its tenant (another tenant's id is
 * indistinguishable from an unknown one), and waiting for its end by following its
 * event stream rather than polling.
 */
import { NotFoundError } from '@glm-image/shared/errors';
import { type GenerationRecord, isTerminal } from '@glm-image/shared/generation';
import type { GenerationStore } from '@glm-image/shared/generation-store';
import { canSee, type Principal } from '../plugins/auth.ts';

/** One blocking read of the event stream lasts at most this long, so an abort is noticed soon. */
const WAIT_READ_MS = 5000;

export class GenerationReads {
  constructor(private readonly store: GenerationStore) {}

  async find(principal: Principal, id: string): Promise<GenerationRecord> {
    const record = await this.store.get(id);
    if (!record || !canSee(principal, record.tenant)) throw new NotFoundError(`No generation ${id}`);
    return record;
  }

  /** Waits until the generation ends or `seconds` pass; returns the latest record either way. */
  async waitForEnd(id: string, seconds: number, signal?: AbortSignal): Promise<GenerationRecord | null> {
    const deadline = Date.now() + seconds * 1000;
    let cursor = '0';
    for (;;) {
      const record = await this.store.get(id);
      const remaining = deadline - Date.now();
      if (!record || isTerminal(record.status) || remaining <= 0 || signal?.aborted) return record;
      const events = await this.store.readEvents(id, cursor, Math.max(1, Math.min(remaining, WAIT_READ_MS)));
      const last = events.at(-1);
      if (last) cursor = last.id;
    }
  }
}
