/**
 * Reads of the training indexes the annotations keep (keys.ts): per tenant and stage,
 * the generations scored or given feedback, ordered by when that last happened, which
 * is what the training export walks; and per plan, the renders whose images were rated,
 * which is where preference pairs between renders come from.
 */
import type { GenerationRecord } from './generation.ts';
import { parseRecord } from './generation-store.ts';
import { TRAINING_PAGE_SCRIPT } from './generation-store-scripts.ts';
import type { RedisKeys } from './keys.ts';
import { LuaScript } from './lua-script.ts';
import type { QualityStage } from './quality.ts';
import type { RedisClient } from './redis.ts';

const trainingPage = new LuaScript(TRAINING_PAGE_SCRIPT);

/** One entry of a training index: the record and its position (µs of its last annotation, as Redis wrote it). */
export interface TrainingEntry {
  record: GenerationRecord;
  score: string;
}

export class TrainingIndex {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * Up to `limit` entries of the tenant's index for `stage`, oldest annotation first,
   * from score `minScore` (µs) on; entries at exactly `minScore` whose id sorts below
   * `cursorId` are skipped (they came before the cursor).
   */
  async page(
    tenant: string,
    stage: QualityStage,
    options: { minScore: string; cursorId: string; limit: number },
  ): Promise<TrainingEntry[]> {
    const reply = (await trainingPage.run(
      this.redis,
      [this.keys.trainingIndex(tenant, stage)],
      [this.keys.recordPrefix, options.minScore, options.cursorId, Math.max(1, Math.floor(options.limit))],
    )) as string[];
    const entries: TrainingEntry[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      entries.push({ record: parseRecord(reply[i]!), score: reply[i + 1]! });
    }
    return entries;
  }

  /** The generations rendered from plan `planGenerationId` whose images were rated, with their rating time (µs). */
  async ratedRenders(planGenerationId: string): Promise<Array<{ id: string; score: string }>> {
    const flat = await this.redis.zrange(this.keys.planRatings(planGenerationId), 0, -1, 'WITHSCORES');
    const out: Array<{ id: string; score: string }> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i]!, score: flat[i + 1]! });
    return out;
  }

  /** Several records at once (null for those gone), in the order asked. */
  async records(ids: readonly string[]): Promise<Array<GenerationRecord | null>> {
    if (ids.length === 0) return [];
    const values = await this.redis.mget(...ids.map((id) => this.keys.record(id)));
    return values.map((json) => (json === null ? null : parseRecord(json)));
  }
}
