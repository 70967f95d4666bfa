/**
 * Every Redis key this system writes outside BullMQ's own, in one list. The prefix
 * (default `{glm}:`) carries a Redis Cluster hash tag, so every key below lands in one
 * slot: the multi-key Lua scripts of the generation store need that.
 *
 *   gen:<id>                      the generation record, JSON (expires with retention)
 *   gen:<id>:events               its event stream: one entry per change (same expiry); also
 *                                 the Pub/Sub channel on which each new entry's id is published,
 *                                 a wake-up for API processes following the generation
 *   gen:<id>:webhook              its webhook delivery log
 *   tenant:<t>:gens               sorted set of the tenant's ids by creation time (listing)
 *   tenant:<t>:unfinished         sorted set of the tenant's ids not yet terminal, by creation
 *                                 time (admission reads its size: O(1) in the backlog)
 *   tenant:<t>:annotated:<stage>  sorted set of the tenant's ids by when they were last scored or
 *                                 given feedback about the stage, in µs (the training export's
 *                                 order and cursor; plan and decode apart)
 *   plan:<id>:rated               sorted set of the generations rendered from plan <id> whose
 *                                 images were rated, by rating time (preference pairs)
 *   awaiting-enqueue              sorted set of ids stored but whose first job is not yet
 *                                 confirmed queued, by creation time (the reconciler's work)
 *   api:idem:<tenant>:<sha256>    an Idempotency-Key claim
 *   api:rate:<…>                  rate-limit counters (namespace of @fastify/rate-limit)
 *   api:authfail:<address>        failed authentications of a client address (per minute)
 *   webhook:disabled:<tenant>     endpoints that answered 410 Gone
 *   reconciler:lock               held by the one replica reconciling stranded generations
 *   retention:sweep-lock          held by the one replica sweeping expired objects
 */

/** BullMQ's key prefix (QUEUE_PREFIX) unless configured otherwise. */
export const DEFAULT_QUEUE_PREFIX = '{glm}';

/** The prefix of this system's own keys for a BullMQ prefix (`{glm}` → `{glm}:`). */
export function keyPrefixOf(queuePrefix: string): string {
  return `${queuePrefix}:`;
}

/** The prefix every process uses unless QUEUE_PREFIX says otherwise. */
export const DEFAULT_KEY_PREFIX = keyPrefixOf(DEFAULT_QUEUE_PREFIX);

export class RedisKeys {
  constructor(readonly prefix: string = DEFAULT_KEY_PREFIX) {}

  record(id: string): string {
    return `${this.prefix}gen:${id}`;
  }
  /** What precedes the id in a record key; the listing script builds record keys from it. */
  get recordPrefix(): string {
    return `${this.prefix}gen:`;
  }
  events(id: string): string {
    return `${this.prefix}gen:${id}:events`;
  }
  /**
   * The Pub/Sub channel announcing each new event of a generation: the stream's own name,
   * so the scripts publish on the key they append to. Plain PUBLISH reaches subscribers on
   * every node of a Redis Cluster, whichever node owns the stream.
   */
  eventsChannel(id: string): string {
    return this.events(id);
  }
  webhookLog(id: string): string {
    return `${this.prefix}gen:${id}:webhook`;
  }
  tenantIndex(tenant: string): string {
    return `${this.prefix}tenant:${tenant}:gens`;
  }
  tenantUnfinished(tenant: string): string {
    return `${this.prefix}tenant:${tenant}:unfinished`;
  }
  trainingIndex(tenant: string, stage: string): string {
    return `${this.prefix}tenant:${tenant}:annotated:${stage}`;
  }
  planRatings(planGenerationId: string): string {
    return `${this.prefix}plan:${planGenerationId}:rated`;
  }
  get awaitingEnqueue(): string {
    return `${this.prefix}awaiting-enqueue`;
  }
  idempotency(tenant: string, keyHash: string): string {
    return `${this.prefix}api:idem:${tenant}:${keyHash}`;
  }
  get rateLimitNamespace(): string {
    return `${this.prefix}api:rate:`;
  }
  /** Followed by a client address: its failed authentications in the current window. */
  get authFailuresNamespace(): string {
    return `${this.prefix}api:authfail:`;
  }
  disabledWebhooks(tenant: string): string {
    return `${this.prefix}webhook:disabled:${tenant}`;
  }
  get reconcilerLock(): string {
    return `${this.prefix}reconciler:lock`;
  }
  get retentionSweepLock(): string {
    return `${this.prefix}retention:sweep-lock`;
  }
}
