/**
 * The generation records in Redis: the single source of truth every process reads.
 *
 * Keys (keyPrefix defaults to `{glm}:`; its hash tag puts every key in one Redis
 * Cluster slot, which the multi-key Lua scripts need):
 *   <prefix>gen:<id>            the record, JSON, expiring RETENTION_SECONDS after creation
 *   <prefix>gen:<id>:events     a stream of { type, data: record JSON }, capped, same expiry
 *   <prefix>tenant:<t>:gens     sorted set of ids by created time (ms), for listing
 *
 * Every write is one Lua script that checks, writes and appends the event atomically;
 * status only moves forward (STATUS_RANK), and nothing but cancel changes a terminal record.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { GenerationExistsError, InvalidInputError } from './errors.ts';
import type { GenerationRecord, GenerationStatus } from './generation.ts';
import { STATUS_RANK } from './generation.ts';
import {
  CANCEL_SCRIPT,
  CREATE_SCRIPT,
  LIST_SCRIPT,
  TRANSITION_SCRIPT,
  UPDATE_SCRIPT,
} from './generation-store-scripts.ts';

export interface GenerationStoreOptions {
  /** Prefix of every key; must hold a hash tag for Redis Cluster. Default: `{glm}:`. */
  keyPrefix?: string;
  /** How long a record, its events and its index entry live after creation. Default: 604800 (7 days). */
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

export interface GenerationPage {
  items: GenerationRecord[];
  nextCursor: string | null;
}

const STREAM_ID = /^(0|\$|\d+(-\d+)?)$/;

class LuaScript {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
  /** EVALSHA, falling back to EVAL the first time a server has not seen the script. */
  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
        return redis.eval(this.source, keys.length, ...keys, ...args);
      }
      throw error;
    }
  }
}

const scripts = {
  create: new LuaScript(CREATE_SCRIPT),
  transition: new LuaScript(TRANSITION_SCRIPT),
  update: new LuaScript(UPDATE_SCRIPT),
  cancel: new LuaScript(CANCEL_SCRIPT),
  list: new LuaScript(LIST_SCRIPT),
};

/**
 * Lua's cjson cannot tell an empty array from an empty object and writes `{}`;
 * restore the arrays the record type promises.
 */
function parseRecord(json: string): GenerationRecord {
  const record = JSON.parse(json) as GenerationRecord;
  if (!Array.isArray(record.outputs)) record.outputs = [];
  const webhook = record.input?.webhook;
  if (webhook && !Array.isArray(webhook.events)) webhook.events = [];
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
  throw new InvalidInputError('cursor is not a cursor this API returned', 'cursor');
}

export class GenerationStore {
  readonly keyPrefix: string;
  readonly retentionSeconds: number;
  private readonly maxEvents: number;

  constructor(
    private readonly redis: Redis,
    options: GenerationStoreOptions = {},
  ) {
    this.keyPrefix = options.keyPrefix ?? '{glm}:';
    this.retentionSeconds = options.retentionSeconds ?? 604_800;
    this.maxEvents = options.maxEventsPerGeneration ?? 1000;
  }

  recordKey(id: string): string {
    return `${this.keyPrefix}gen:${id}`;
  }
  eventsKey(id: string): string {
    return `${this.keyPrefix}gen:${id}:events`;
  }
  tenantIndexKey(tenant: string): string {
    return `${this.keyPrefix}tenant:${tenant}:gens`;
  }

  private commonArgs(): (string | number)[] {
    const now = new Date();
    return [
      JSON.stringify(STATUS_RANK),
      now.toISOString(),
      now.getTime(),
      this.maxEvents,
      this.retentionSeconds,
    ];
  }

  /** Stores a new record and its first event; throws GenerationExistsError if the id is taken. */
  async create(record: GenerationRecord): Promise<void> {
    const createdMs = Date.parse(record.created_at);
    if (Number.isNaN(createdMs))
      throw new InvalidInputError('created_at must be an ISO timestamp', 'created_at');
    const created = await scripts.create.run(
      this.redis,
      [this.recordKey(record.id), this.eventsKey(record.id), this.tenantIndexKey(record.tenant)],
      [...this.commonArgs(), JSON.stringify(record), createdMs, record.id],
    );
    if (created === null) throw new GenerationExistsError(record.id);
  }

  async get(id: string): Promise<GenerationRecord | null> {
    const json = await this.redis.get(this.recordKey(id));
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
      [this.tenantIndexKey(tenant)],
      [`${this.keyPrefix}gen:`, cursor?.score ?? '+inf', cursor?.id ?? '', limit],
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
      [this.recordKey(id), this.eventsKey(id)],
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
      [this.recordKey(id), this.eventsKey(id)],
      [...this.commonArgs(), JSON.stringify(patch), eventType],
    )) as string | null;
    return json === null ? null : parseRecord(json);
  }

  /**
   * Queued: canceled at once (the caller should also remove the queued job). Planning or
   * decoding: cancel_requested is set; the worker stops within one model step and moves
   * the record to canceled. Terminal: returned unchanged. Null only when the id is unknown.
   */
  async requestCancel(id: string): Promise<GenerationRecord | null> {
    const json = (await scripts.cancel.run(
      this.redis,
      [this.recordKey(id), this.eventsKey(id)],
      this.commonArgs(),
    )) as string | null;
    return json === null ? null : parseRecord(json);
  }

  /**
   * Events after `afterId` (a stream entry id; '0' for all), oldest first, at most `count`.
   * With blockMs > 0 it waits that long for the first new event, on a connection of its
   * own so that the shared connection is never blocked.
   */
  async readEvents(id: string, afterId = '0', blockMs = 0, count = 100): Promise<GenerationEvent[]> {
    if (!STREAM_ID.test(afterId))
      throw new InvalidInputError('Last-Event-ID is not an event id', 'Last-Event-ID');
    const key = this.eventsKey(id);
    let reply: [string, [string, string[]][]][] | null;
    if (blockMs > 0) {
      const blocking = this.redis.duplicate();
      try {
        reply = (await blocking.xread(
          'COUNT',
          count,
          'BLOCK',
          blockMs,
          'STREAMS',
          key,
          afterId,
        )) as typeof reply;
      } finally {
        blocking.disconnect();
      }
    } else {
      reply = (await this.redis.xread('COUNT', count, 'STREAMS', key, afterId)) as typeof reply;
    }
    const entries = reply?.[0]?.[1] ?? [];
    return entries.map(([entryId, fields]) => {
      const values = new Map<string, string>();
      for (let i = 0; i + 1 < fields.length; i += 2) values.set(fields[i]!, fields[i + 1]!);
      const type = (values.get('type') ?? 'update') as GenerationEventType;
      return { id: entryId, type, data: parseRecord(values.get('data') ?? '{}') };
    });
  }
}
