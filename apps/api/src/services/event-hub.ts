/**
 * The API process's one fan-out of generation events to its local watchers (SSE clients,
 * `Prefer: wait` submits). However many watchers there are, the process holds one extra
 * Redis connection: a subscriber to the events channel of each generation watched here.
 * The store's scripts publish each new entry's id on that channel; the hub then reads the
 * new entries once per generation, on the shared connection without blocking, and hands
 * them to every watcher of that generation. An event costs one read per process and
 * O(watchers of that generation) here, whatever else is queued or watched.
 *
 * The stream stays the source of truth and Pub/Sub only wakes the hub up: each watcher
 * has a cursor (the last event it was handed), and every read starts from the cursors.
 * An announcement lost while the subscriber was reconnecting therefore costs nothing:
 * once it is subscribed again, every followed generation is read again from its
 * watchers' cursors. A loss the hub cannot see (a Redis Cluster client moving its
 * subscription to another node says nothing) is caught by a slow sweep that reads every
 * followed generation from its cursors: an empty reply unless something was missed.
 */
import type { GenerationEvent, GenerationStore } from '@glm-image/shared/generation-store';
import { closeRedis, type RedisClient } from '@glm-image/shared/redis';
import type { FastifyBaseLogger } from 'fastify';

/**
 * Events held for a watcher that is not taking them (a slow client). Runs of progress
 * events collapse to the latest, so this fills only with other kinds; a full watcher takes
 * no more until it has drained, then catches up from the stream.
 */
export const MAX_BUFFERED_EVENTS = 64;
/** Entries per stream read; a read that fills it is followed by another at once. */
const READ_BATCH = 100;
/** Waits before reading a stream again after a failed read (Redis down), doubling to the cap. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5_000;
/** Channels per SUBSCRIBE when subscribing again after a reconnect. */
const SUBSCRIBE_BATCH = 500;
/** How often every followed generation is read whether announced or not. */
export const DEFAULT_SWEEP_MS = 15_000;

export interface EventWatch {
  /**
   * The events that arrived since the last call, oldest first (at least one; a run of
   * progress events as its latest only); waits for one. Null once the watch has ended:
   * closed, or the hub shut down.
   */
  next(): Promise<GenerationEvent[] | null>;
  /** Events received and not yet taken by next(). */
  readonly buffered: number;
  /** Stops watching; a pending next() resolves null. Safe to call twice. */
  close(): void;
}

/** Stream entry ids, `<ms>-<seq>` (or `<ms>` for `<ms>-0`), in stream order. */
export function compareEventIds(a: string, b: string): number {
  const [aMs, aSeq] = idParts(a);
  const [bMs, bSeq] = idParts(b);
  return aMs - bMs || aSeq - bSeq;
}

function idParts(id: string): [number, number] {
  const dash = id.indexOf('-');
  return dash < 0 ? [Number(id), 0] : [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

class Watcher implements EventWatch {
  private buffer: GenerationEvent[] = [];
  private waiter: (() => void) | null = null;
  /** Full: refused an event, so takes nothing more until drained (its cursor stays put). */
  behind = false;
  ended = false;

  constructor(
    readonly followed: Followed,
    private readonly onDrained: (followed: Followed) => void,
    private readonly onClose: (watcher: Watcher) => void,
    /** The last event handed to this watcher: it is given only what follows. */
    public cursor: string,
  ) {}

  get buffered(): number {
    return this.buffer.length;
  }

  offer(event: GenerationEvent): void {
    if (this.ended || this.behind || compareEventIds(event.id, this.cursor) <= 0) return;
    const last = this.buffer.length - 1;
    if (event.type === 'progress' && this.buffer[last]?.type === 'progress') {
      this.buffer[last] = event; // only the latest step matters
    } else if (this.buffer.length >= MAX_BUFFERED_EVENTS) {
      this.behind = true;
      return;
    } else {
      this.buffer.push(event);
    }
    this.cursor = event.id;
    this.wake();
  }

  async next(): Promise<GenerationEvent[] | null> {
    if (this.buffer.length === 0 && !this.ended) {
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
    if (this.buffer.length === 0) return null;
    const events = this.buffer;
    this.buffer = [];
    if (this.behind && !this.ended) {
      this.behind = false;
      this.onDrained(this.followed);
    }
    return events;
  }

  close(): void {
    if (this.ended) return;
    this.end();
    this.onClose(this);
  }

  end(): void {
    this.ended = true;
    this.buffer = [];
    this.wake();
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
}

/** A generation with watchers in this process. */
class Followed {
  readonly watchers = new Set<Watcher>();
  /** The subscription is in place: a read now sees everything it could miss from the channel. */
  subscribed = false;
  reading = false;
  /** Something may have arrived during the current read: read again when it is done. */
  again = false;
  /** The newest entry read so far; an announcement of one no newer needs no read. */
  newest = '0';
  retryTimer: NodeJS.Timeout | null = null;
  retryMs = RETRY_FIRST_MS;

  constructor(
    readonly id: string,
    readonly channel: string,
  ) {}

  /** Where the next read starts: the oldest cursor among watchers that take events now. */
  readFrom(): string | null {
    let from: string | null = null;
    for (const watcher of this.watchers) {
      if (watcher.behind || watcher.ended) continue;
      if (from === null || compareEventIds(watcher.cursor, from) < 0) from = watcher.cursor;
    }
    return from;
  }
}

export interface EventHubOptions {
  /** Streams are read through the store, on its (shared) connection, never blocking it. */
  store: GenerationStore;
  /**
   * A connection of the hub's own, used for nothing but subscriptions; the hub closes it.
   * Requests on it should wait out a reconnect (`maxRetriesPerRequest: null`).
   */
  subscriber: RedisClient;
  log: Pick<FastifyBaseLogger, 'warn' | 'info' | 'debug'>;
  /** Period of the sweep that reads every followed generation. Default: DEFAULT_SWEEP_MS. */
  sweepMs?: number;
}

export class EventHub {
  private readonly store: GenerationStore;
  private readonly log: EventHubOptions['log'];
  private readonly subscriber: RedisClient;
  private readonly followed = new Map<string, Followed>();
  private readonly byChannel = new Map<string, Followed>();
  private readonly sweeper: NodeJS.Timeout;
  private watcherCount = 0;
  private closed = false;
  private lostConnection = false;

  constructor(options: EventHubOptions) {
    this.store = options.store;
    this.log = options.log;
    this.subscriber = options.subscriber;
    this.subscriber.on('message', (channel: string, entryId: string) => this.announced(channel, entryId));
    // The client subscribes again by itself too, but only this tells the hub when to read
    // what it may have missed.
    this.subscriber.on('ready', () => void this.resubscribe());
    this.subscriber.on('close', () => {
      if (this.closed || this.lostConnection) return;
      this.lostConnection = true;
      this.log.warn('event hub lost its Redis connection; reconnecting');
    });
    this.subscriber.on('error', (error) => this.log.debug({ err: error }, 'event hub connection error'));
    this.sweeper = setInterval(() => {
      for (const followed of this.followed.values()) this.read(followed);
    }, options.sweepMs ?? DEFAULT_SWEEP_MS);
    this.sweeper.unref();
  }

  /** Generations followed and watchers in this process. */
  get size(): { generations: number; watchers: number } {
    return { generations: this.followed.size, watchers: this.watcherCount };
  }

  /** Follows generation `id` from just after the event `after` (an entry id; '0' for all). */
  watch(id: string, after: string): EventWatch {
    let followed = this.followed.get(id);
    const isNew = followed === undefined;
    followed ??= new Followed(id, this.store.keys.eventsChannel(id));
    const watcher = new Watcher(
      followed,
      (f) => this.read(f),
      (w) => this.release(w),
      after,
    );
    if (this.closed) {
      watcher.end();
      return watcher;
    }
    followed.watchers.add(watcher);
    this.watcherCount += 1;
    if (isNew) {
      this.followed.set(id, followed);
      this.byChannel.set(followed.channel, followed);
      this.subscribe(followed);
    } else if (followed.subscribed) {
      this.read(followed);
    }
    // else: the read follows the subscription, and covers this watcher too.
    return watcher;
  }

  /** Ends every watch (their next() resolves null) and closes the subscriber connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    for (const followed of this.followed.values()) {
      if (followed.retryTimer) clearTimeout(followed.retryTimer);
      for (const watcher of followed.watchers) watcher.end();
      followed.watchers.clear();
    }
    this.followed.clear();
    this.byChannel.clear();
    this.watcherCount = 0;
    await closeRedis(this.subscriber);
  }

  private isCurrent(followed: Followed): boolean {
    return !this.closed && this.followed.get(followed.id) === followed;
  }

  private subscribe(followed: Followed): void {
    this.subscriber.subscribe(followed.channel).then(
      () => {
        if (!this.isCurrent(followed)) return;
        followed.subscribed = true;
        this.read(followed);
      },
      // Only a connection being closed refuses (requests wait out reconnects); when it is
      // the hub's own close there is nothing left to do.
      (error) => {
        if (this.isCurrent(followed)) this.log.warn({ err: error }, 'event hub could not subscribe');
      },
    );
  }

  /** On every (re)connect: subscribe to every followed channel again, then read what was missed. */
  private async resubscribe(): Promise<void> {
    const all = [...this.followed.values()];
    try {
      for (let i = 0; i < all.length; i += SUBSCRIBE_BATCH) {
        await this.subscriber.subscribe(...all.slice(i, i + SUBSCRIBE_BATCH).map((f) => f.channel));
      }
    } catch (error) {
      // The connection dropped again; its next 'ready' starts over.
      if (!this.closed) this.log.debug({ err: error }, 'event hub could not subscribe again yet');
      return;
    }
    if (this.lostConnection) {
      this.lostConnection = false;
      this.log.info({ generations: all.length }, 'event hub subscribed again; catching up');
    }
    for (const followed of all) {
      if (!this.isCurrent(followed)) continue;
      followed.subscribed = true;
      this.read(followed);
    }
  }

  private announced(channel: string, entryId: string): void {
    const followed = this.byChannel.get(channel);
    if (!followed) return;
    if (compareEventIds(entryId, followed.newest) <= 0) return; // read already
    this.read(followed);
  }

  private release(watcher: Watcher): void {
    const { followed } = watcher;
    if (!followed.watchers.delete(watcher)) return;
    this.watcherCount -= 1;
    if (followed.watchers.size > 0) return;
    if (followed.retryTimer) clearTimeout(followed.retryTimer);
    if (!this.isCurrent(followed)) return;
    this.followed.delete(followed.id);
    this.byChannel.delete(followed.channel);
    this.subscriber.unsubscribe(followed.channel).catch(() => undefined);
  }

  /** Reads the generation's new entries and offers them to its watchers; one read at a time. */
  private read(followed: Followed): void {
    if (followed.reading) {
      followed.again = true;
      return;
    }
    if (followed.retryTimer) {
      clearTimeout(followed.retryTimer);
      followed.retryTimer = null;
    }
    followed.reading = true;
    void this.drain(followed);
  }

  private async drain(followed: Followed): Promise<void> {
    try {
      for (;;) {
        followed.again = false;
        if (!this.isCurrent(followed)) return;
        const from = followed.readFrom();
        if (from === null) return;
        const events = await this.store.readEvents(followed.id, from, { count: READ_BATCH });
        const last = events.at(-1);
        if (last && compareEventIds(last.id, followed.newest) > 0) followed.newest = last.id;
        for (const watcher of followed.watchers) {
          // The batch holds everything after `from`: a watcher whose cursor is older (one
          // that joined or drained during the read) would skip what lies in between.
          if (compareEventIds(watcher.cursor, from) < 0) {
            if (!watcher.behind && !watcher.ended) followed.again = true;
            continue;
          }
          for (const event of events) watcher.offer(event);
        }
        followed.retryMs = RETRY_FIRST_MS;
        if (events.length < READ_BATCH && !followed.again) return;
      }
    } catch (error) {
      if (!this.isCurrent(followed)) return;
      this.log.warn({ err: error, generation: followed.id }, 'reading generation events failed; retrying');
      followed.retryTimer = setTimeout(() => {
        followed.retryTimer = null;
        this.read(followed);
      }, followed.retryMs);
      followed.retryMs = Math.min(followed.retryMs * 2, RETRY_MAX_MS);
    } finally {
      // In the same step as the last check of `again`: a wake-up can never fall in between.
      followed.reading = false;
    }
  }
}
