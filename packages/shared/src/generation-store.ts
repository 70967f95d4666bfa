/**
 * The generation records in Redis: the single source of truth every process reads.
 * Key names are listed in keys.ts. Every write is one Lua script that checks, writes
 * and appends the event atomically, and keeps the tenant's unfinished set and the
 * awaiting-enqueue index in step; status only moves forward (STATUS_RANK), and nothing
 * but cancel changes a terminal record, apart from annotations of a succeeded one (its
 * scores and feedback, which never touch its status).
 *
 * Processes do not call the writes directly: the lifecycle (lifecycle.ts) does, so that
 * every change also gets its metric and its webhook.
 */
import { GenerationExistsError, InvalidInputError, TenantAtCapacityError } from './errors.ts';
import type { GenerationRecord, GenerationStatus } from './generation.ts';
import { DEFAULT_RETENTION_SECONDS, STATUS_RANK } from './generation.ts';
import {
  ANNOTATE_SCRIPT,
  CANCEL_SCRIPT,
  CREATE_SCRIPT,
  LIST_SCRIPT,
  TRANSITION_SCRIPT,
  UPDATE_SCRIPT,
} from './generation-store-scripts.ts';
import { DEFAULT_KEY_PREFIX, RedisKeys } from './keys.ts';
import { LuaScript } from './lua-script.ts';
import {
  type Feedback,
  MAX_FEEDBACK_PER_GENERATION,
  type QualityStage,
  restoreAnnotationArrays,
  type StageQuality,
} from './quality.ts';
import type { RedisClient } from './redis.ts';

export interface GenerationStoreOptions {
  /** Prefix of every key; must hold a hash tag for Redis Cluster. Default: DEFAULT_KEY_PREFIX (`{glm}:`). */
  keyPrefix?: string;
  /** How long a record, its events and its index entry live after creation. Default: DEFAULT_RETENTION_SECONDS (7 days). */
  retentionSeconds?: number;
  /** Events kept per generation (approximate, trimmed in blocks). Default: 1000. */
  maxEventsPerGeneration?: number;
}

/** Fields of a record a patch may set; id, tenant, status and created_at are never patched. */
export type GenerationPatch = Partial<Omit<GenerationRecord, 'id' | 'tenant' | 'status' | 'created_at'>>;

export type GenerationEventType = 'status' | 'progress' | 'preview' | 'cancel_requested' | 'update';

export interface GenerationEvent {
  /** The stream entry id; clients send it back as Last-Event-ID to resume. */
  id: string;
  type: GenerationEventType;
  /** The record as it was right after the change. */
  data: GenerationRecord;
}

/** What a cancel request did: moved a queued record to canceled, flagged a running one, or nothing. */
export type CancelOutcome = 'canceled' | 'requested' | 'unchanged';

/**
 * What an annotation did: applied, found already there (a replayed feedback id), refused
 * because the record holds as much feedback as it may, or because it has not succeeded.
 */
export type AnnotationOutcome = 'ok' | 'exists' | 'full' | 'not_succeeded';

export interface GenerationPage {
  items: GenerationRecord[];
  nextCursor: string | null;
}

const STREAM_ID = /^(0|\$|\d+(-\d+)?)$/;

const scripts = {
  create: new LuaScript(CREATE_SCRIPT),
  transition: new LuaScript(TRANSITION_SCRIPT),
  update: new LuaScript(UPDATE_SCRIPT),
  cancel: new LuaScript(CANCEL_SCRIPT),
  list: new LuaScript(LIST_SCRIPT),
  annotate: new LuaScript(ANNOTATE_SCRIPT),
};

/**
 * Lua's cjson cannot tell an empty array from an empty object and writes `{}`;
 * restore the arrays the record type promises.
 */
export function parseRecord(json: string): GenerationRecord {
  const record = JSON.parse(json) as GenerationRecord;
  if (!Array.isArray(record.outputs)) record.outputs = [];
  const webhook = record.input?.webhook;
  if (webhook && !Array.isArray(webhook.events)) webhook.events = [];
  restoreAnnotationArrays(record);
  return record;
}

function eventTypeOf(patch: GenerationPatch): GenerationEventType {
  if (patch.preview !== undefined) return 'preview';
  if (patch.progress !== undefined) return 'progress';
  return 'update';
}

function encodeCursor(score: string, id: string): string {
  return Buffer.from(JSON.stringify([score, id])).toString('base64url');
}

function decodeCursor(cursor: string): { score: string; id: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      typeof value[0] === 'string' &&
      /^\d+$/.test(value[0]) &&
      typeof value[1] === 'string'
    ) {
      return { score: value[0], id: value[1] };
    }
  } catch {
    // fall through to the error below
  }
  throw new InvalidInputError('cursor', 'not a cursor this API returned');
}

export class GenerationStore {
  readonly keys: RedisKeys;
  readonly retentionSeconds: number;
  private readonly maxEvents: number;

  constructor(
    private readonly redis: RedisClient,
    options: GenerationStoreOptions = {},
  ) {
    this.keys = new RedisKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX);
    this.retentionSeconds = options.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
    this.maxEvents = options.maxEventsPerGeneration ?? 1000;
  }

  private commonArgs(): (string | number)[] {
    const now = new Date();
    return [
      JSON.stringify(STATUS_RANK),
      now.toISOString(),
      now.getTime(),
      this.maxEvents,
      this.retentionSeconds,
      this.keys.prefix,
    ];
  }

  /**
   * Stores a new queued record and its first event, counts it among the tenant's
   * unfinished generations and indexes it as awaiting its first job. Throws
   * GenerationExistsError if the id is taken, TenantAtCapacityError when the tenant
   * already has `maxUnfinished` unfinished generations (0: no cap).
   */
  async create(record: GenerationRecord, maxUnfinished = 0): Promise<void> {
    const createdMs = Date.parse(record.created_at);
    if (Number.isNaN(createdMs)) throw new InvalidInputError('created_at', 'must be an ISO timestamp');
    const outcome = await scripts.create.run(
      this.redis,
      [
        this.keys.record(record.id),
        this.keys.events(record.id),
        this.keys.tenantIndex(record.tenant),
        this.keys.tenantUnfinished(record.tenant),
        this.keys.awaitingEnqueue,
      ],
      [...this.commonArgs(), JSON.stringify(record), createdMs, record.id, maxUnfinished],
    );
    if (outcome === 'exists') throw new GenerationExistsError(record.id);
    if (outcome === 'full') throw new TenantAtCapacityError(maxUnfinished);
  }

  /** The tenant's unfinished generations (queued or running): one ZCARD, whatever the backlog. */
  async unfinishedCount(tenant: string): Promise<number> {
    return this.redis.zcard(this.keys.tenantUnfinished(tenant));
  }

  /** The generation's first job is on its queue: the reconciler need not look at it. */
  async confirmEnqueued(id: string): Promise<void> {
    await this.redis.zrem(this.keys.awaitingEnqueue, id);
  }

  /** Ids stored before `createdBeforeMs` whose first job was never confirmed queued, oldest first. */
  async awaitingEnqueue(createdBeforeMs: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.awaitingEnqueue, '-inf', createdBeforeMs, 'LIMIT', 0, limit);
  }

  async get(id: string): Promise<GenerationRecord | null> {
    const json = await this.redis.get(this.keys.record(id));
    return json === null ? null : parseRecord(json);
  }

  /** The tenant's generations, newest first. `cursor` is the nextCursor of the previous page. */
  async listByTenant(
    tenant: string,
    options: { limit: number; cursor?: string | null },
  ): Promise<GenerationPage> {
    const limit = Math.max(1, Math.min(Math.floor(options.limit), 1000));
    const cursor = options.cursor ? decodeCursor(options.cursor) : null;
    const reply = (await scripts.list.run(
      this.redis,
      [this.keys.tenantIndex(tenant)],
      [this.keys.recordPrefix, cursor?.score ?? '+inf', cursor?.id ?? '', limit],
    )) as string[];
    const items: GenerationRecord[] = [];
    let nextCursor: string | null = null;
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const record = parseRecord(reply[i]!);
      if (items.length === limit) break;
      items.push(record);
      nextCursor = encodeCursor(reply[i + 1]!, record.id);
    }
    return { items, nextCursor: reply.length / 2 > limit ? nextCursor : null };
  }

  /**
   * Moves the record to `to` and merges `patch` (timings and metadata merge one level
   * deep; a null value deletes a field). Refused (null) when the record is missing or
   * `to` does not rank above the current status. Sets started_at on leaving queued for
   * planning/decoding, completed_at and timings.total_ms on reaching a terminal status.
   */
  async transition(
    id: string,
    to: GenerationStatus,
    patch: GenerationPatch = {},
  ): Promise<GenerationRecord | null> {
    const json = (await scripts.transition.run(
      this.redis,
      [this.keys.record(id), this.keys.events(id)],
      [...this.commonArgs(), to, JSON.stringify(patch)],
    )) as string | null;
    return json === null ? null : parseRecord(json);
  }

  /** Merges a patch of non-status fields (progress, preview, timings…); refused (null) once terminal. */
  async update(
    id: string,
    patch: GenerationPatch,
    eventType: GenerationEventType = eventTypeOf(patch),
  ): Promise<GenerationRecord | null> {
    const json = (await scripts.update.run(
      this.redis,
      [this.keys.record(id), this.keys.events(id)],
      [...this.commonArgs(), JSON.stringify(patch), eventType],
    )) as string | null;
    return json === null ? null : parseRecord(json);
  }

  /**
   * Queued: canceled at once (the caller should also remove the queued job). Planning or
   * decoding: cancel_requested is set; the worker stops within one model step and moves
   * the record to canceled. Terminal: returned unchanged. Null only when the id is unknown.
   */
  async requestCancel(id: string): Promise<{ outcome: CancelOutcome; record: GenerationRecord } | null> {
    const reply = (await scripts.cancel.run(
      this.redis,
      [this.keys.record(id), this.keys.events(id)],
      this.commonArgs(),
    )) as [CancelOutcome, string] | null;
    return reply === null ? null : { outcome: reply[0], record: parseRecord(reply[1]) };
  }

  /**
   * Sets the scores of one stage on a succeeded record, leaving its status and events
   * alone, and indexes it for that stage's training export. Null when the id is unknown.
   */
  async recordQuality(
    id: string,
    stage: QualityStage,
    quality: StageQuality,
  ): Promise<{ outcome: AnnotationOutcome; record: GenerationRecord } | null> {
    return this.annotate(id, ['quality', stage, JSON.stringify(quality), 0, stage, '0']);
  }

  /**
   * Appends feedback to a succeeded record (once per feedback id, at most
   * MAX_FEEDBACK_PER_GENERATION entries) and indexes it for the training export of each
   * stage in `stages`; `ratesImages` also records it among the rated renders of its plan.
   */
  async addFeedback(
    id: string,
    feedback: Feedback,
    options: { stages: readonly QualityStage[]; ratesImages: boolean },
  ): Promise<{ outcome: AnnotationOutcome; record: GenerationRecord } | null> {
    return this.annotate(id, [
      'feedback',
      '',
      JSON.stringify(feedback),
      MAX_FEEDBACK_PER_GENERATION,
      options.stages.join(','),
      options.ratesImages ? '1' : '0',
    ]);
  }

  private async annotate(
    id: string,
    args: (string | number)[],
  ): Promise<{ outcome: AnnotationOutcome; record: GenerationRecord } | null> {
    const reply = (await scripts.annotate.run(
      this.redis,
      [this.keys.record(id)],
      [...this.commonArgs(), ...args],
    )) as [AnnotationOutcome, string] | null;
    return reply === null ? null : { outcome: reply[0], record: parseRecord(reply[1]) };
  }

  /**
   * Events after `afterId` (a stream entry id; '0' for all), oldest first, at most `count`.
   * Never blocks: a process waits for new events through its one subscription to the
   * events channels (the API's event hub), not with a blocking read per waiter, which would
   * hold a connection each.
   */
  async readEvents(id: string, afterId = '0', options: { count?: number } = {}): Promise<GenerationEvent[]> {
    if (!STREAM_ID.test(afterId)) throw new InvalidInputError('Last-Event-ID', 'not an event id');
    const reply = (await this.redis.xread(
      'COUNT',
      options.count ?? 100,
      'STREAMS',
      this.keys.events(id),
      afterId,
    )) as [string, [string, string[]][]][] | null;
    const entries = reply?.[0]?.[1] ?? [];
    return entries.map(([entryId, fields]) => {
      const values = new Map<string, string>();
      for (let i = 0; i + 1 < fields.length; i += 2) values.set(fields[i]!, fields[i + 1]!);
      const type = (values.get('type') ?? 'update') as GenerationEventType;
      return { id: entryId, type, data: parseRecord(values.get('data') ?? '{}') };
    });
  }

  /** The id of the generation's latest event, or null when it has none (unknown or expired). */
  async lastEventId(id: string): Promise<string | null> {
    const [latest] = await this.redis.xrevrange(this.keys.events(id), '+', '-', 'COUNT', 1);
    return latest?.[0] ?? null;
  }
}
