import createClient, { type Client } from 'openapi-fetch';
import { apiErrorFrom, ConnectionError, EventStreamError } from './errors.ts';
import { type GenerationUpdate, readGenerationEvents } from './event-stream.ts';
import { readJsonLines, TruncatedBodyError } from './json-lines.ts';
import { defaultSleep, type RepeatSafety, Retrier, type RetryOptions } from './retry.ts';
import {
  type CreateFeedbackRequest,
  type CreateGenerationRequest,
  type CreateRenderRequest,
  type Feedback,
  type Generation,
  type GenerationPage,
  isTerminal,
  type paths,
  type TrainingExportQuery,
  type TrainingRow,
  type TrainingStage,
} from './types.ts';

/**
 * The typed client of the GLM-Image API. Requests and answers are typed from the
 * OpenAPI document (generated/openapi.ts) through openapi-fetch; this class adds what
 * every caller would otherwise write again: the key, retries of 429/503 honouring
 * `Retry-After`, an Idempotency-Key on every submit and every piece of feedback, typed
 * errors, following a generation to its end over Server-Sent Events (or by polling),
 * pagination, downloads, plans approved before decoding, and the training export read row by row across its pages.
 * `client.api` is the raw typed client, for routes this class has no method for yet.
 */

export interface ClientOptions {
  /** Where the API is, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  apiKey: string;
  retry?: RetryOptions;
  /** The fetch to use; default globalThis.fetch. */
  fetch?: (request: Request) => Promise<Response>;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface SubmitOptions extends CallOptions {
  /** Sent as `Idempotency-Key`; a random one is made when absent, so retries never submit twice. */
  idempotencyKey?: string;
  /** `Prefer: wait=<seconds>` (≤ 60): hold the answer until the generation ends or the wait runs out. */
  waitSeconds?: number;
}

export interface FeedbackOptions extends CallOptions {
  /** Sent as `Idempotency-Key`; a random one is made when absent, so a retry never stores it twice. */
  idempotencyKey?: string;
}

export interface TrainingExportOptions extends CallOptions {
  /** `plan`: planner rows; `decode`: decoder rows and preference pairs. */
  stage: TrainingStage;
  /** Only generations scored or given feedback at or after this time; ignored with `cursor`. */
  since?: string | Date;
  /** A row's `cursor`: the export starts right after that row. */
  cursor?: string;
  /** Rows at most, over every request; default: every row up to now. */
  limit?: number;
  /** Whose generations; default the key's own tenant. */
  tenant?: string;
  /** Rows asked for per request (1 to 10 000). Default: 1000. */
  pageSize?: number;
}

export interface WaitOptions extends CallOptions {
  /** Told every change: each event, or each polled change. */
  onUpdate?: (update: GenerationUpdate) => void;
  /** `auto` (default) follows the event stream and polls when it cannot; `poll` only polls. */
  transport?: 'auto' | 'poll';
  /** Between polls. Default: 1000 ms. */
  pollIntervalMs?: number;
  /** A silent event stream is reconnected after this long. Default: 45 s. */
  idleTimeoutMs?: number;
  /** Reconnections in a row that deliver no event before falling back to polling. Default: 5. */
  maxReconnects?: number;
  /** Told when the event stream could not be followed and polling takes over. */
  onFallback?: (reason: EventStreamError) => void;
}

export interface Download {
  bytes: Uint8Array;
  contentType: string;
}

const DEFAULT_RECONNECT_DELAY_MS = 2000;
const DEFAULT_EXPORT_PAGE_SIZE = 1000;

export class GlmImageClient {
  readonly baseUrl: string;
  /** The typed openapi-fetch client underneath, with the key set; no retries. */
  readonly api: Client<paths>;
  private readonly retrier: Retrier;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly fetchFn: (request: Request) => Promise<Response>;
  private readonly authorization: string;

  constructor(options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.authorization = `Bearer ${options.apiKey}`;
    this.fetchFn = options.fetch ?? ((request) => globalThis.fetch(request));
    this.api = createClient<paths>({
      baseUrl: this.baseUrl,
      headers: { authorization: this.authorization },
      fetch: this.fetchFn,
    });
    this.retrier = new Retrier(options.retry);
    this.sleep = options.retry?.sleep ?? defaultSleep;
  }

  /** Sends with retries; a refusal left after them becomes its ApiError. */
  private async call<T extends { response: Response; error?: unknown }>(
    request: string,
    safety: RepeatSafety,
    send: () => Promise<T>,
    signal?: AbortSignal,
  ): Promise<Exclude<T, { data?: never }>> {
    const result = await this.retrier.run(request, safety, send, signal);
    if (!result.response.ok) throw apiErrorFrom(result.response, result.error);
    return result as Exclude<T, { data?: never }>;
  }

  /**
   * Submits a generation; answers it queued (or finished, when `waitSeconds` saw it end).
   * `reference_images` (up to 4, see `referenceImage`) makes it an edit of those images;
   * `decode: false` makes it plan only: it ends `succeeded` with its layout preview and
   * no outputs, and `approve` decodes it.
   */
  async submit(body: CreateGenerationRequest, options: SubmitOptions = {}): Promise<Generation> {
    const header: Record<string, string> = {
      'idempotency-key': options.idempotencyKey ?? crypto.randomUUID(),
    };
    if (options.waitSeconds !== undefined) header['prefer'] = `wait=${options.waitSeconds}`;
    const { data } = await this.call(
      'POST /v1/generations',
      // The Idempotency-Key makes a resent submit return the first generation.
      'always',
      () => this.api.POST('/v1/generations', { body, params: { header }, signal: options.signal }),
      options.signal,
    );
    return data;
  }

  async get(id: string, options: CallOptions = {}): Promise<Generation> {
    const { data } = await this.call(
      `GET /v1/generations/${id}`,
      'always',
      () => this.api.GET('/v1/generations/{id}', { params: { path: { id } }, signal: options.signal }),
      options.signal,
    );
    return data;
  }

  /** Cancels a queued or running generation; a finished one is answered as it is. */
  async cancel(id: string, options: CallOptions = {}): Promise<Generation> {
    const { data } = await this.call(
      `POST /v1/generations/${id}/cancel`,
      'always',
      () =>
        this.api.POST('/v1/generations/{id}/cancel', { params: { path: { id } }, signal: options.signal }),
      options.signal,
    );
    return data;
  }

  /** One page of the caller's generations, newest first; pass `next_cursor` back as `cursor`. */
  async list(options: CallOptions & { limit?: number; cursor?: string } = {}): Promise<GenerationPage> {
    const query: { limit?: number; cursor?: string } = {};
    if (options.limit !== undefined) query.limit = options.limit;
    if (options.cursor !== undefined) query.cursor = options.cursor;
    const { data } = await this.call(
      'GET /v1/generations',
      'always',
      () => this.api.GET('/v1/generations', { params: { query }, signal: options.signal }),
      options.signal,
    );
    return data;
  }

  /** Every generation of the caller, newest first, fetching pages of `pageSize` as it goes. */
  async *listAll(options: CallOptions & { pageSize?: number } = {}): AsyncGenerator<Generation> {
    let cursor: string | undefined;
    do {
      const page = await this.list({
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.pageSize !== undefined ? { limit: options.pageSize } : {}),
        ...(cursor !== undefined ? { cursor } : {}),
      });
      yield* page.items;
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** Renders a finished generation's stored tokens again; answers the new generation, queued. */
  async render(id: string, body: CreateRenderRequest = {}, options: CallOptions = {}): Promise<Generation> {
    const { data } = await this.call(
      `POST /v1/generations/${id}/renders`,
      // No Idempotency-Key on renders: resent only when the first attempt never arrived.
      'if-not-sent',
      () =>
        this.api.POST('/v1/generations/{id}/renders', {
          params: { path: { id } },
          body,
          signal: options.signal,
        }),
      options.signal,
    );
    return data;
  }

  /**
   * Approves a plan: decodes a plan-only generation (submitted with `decode: false`,
   * ended `succeeded` with its preview and no outputs) with its own decoder settings, or
   * with those given. Answers the render, a new generation, queued; follow it with
   * `wait`. A plan may be approved as many times as wanted, each a new render; the same
   * as `render`, named for the plan-then-approve flow.
   */
  async approve(
    id: string,
    settings: CreateRenderRequest = {},
    options: CallOptions = {},
  ): Promise<Generation> {
    return this.render(id, settings, options);
  }

  /**
   * A person's feedback on a succeeded generation: a rating, labels, a comment, the
   * preferred image, about the plan, the images or both (`stage`). Answers the stored
   * feedback; sent again with the same Idempotency-Key and body, the first one.
   */
  async feedback(id: string, body: CreateFeedbackRequest, options: FeedbackOptions = {}): Promise<Feedback> {
    const header = { 'idempotency-key': options.idempotencyKey ?? crypto.randomUUID() };
    const { data } = await this.call(
      `POST /v1/generations/${id}/feedback`,
      // The Idempotency-Key makes resent feedback return the first one.
      'always',
      () =>
        this.api.POST('/v1/generations/{id}/feedback', {
          params: { path: { id }, header },
          body,
          signal: options.signal,
        }),
      options.signal,
    );
    return data;
  }

  /**
   * The training export (admin keys): every row of one stage, oldest annotation first,
   * read as it streams in and fetched page after page, each page starting after the
   * last row's `cursor`, until the export is caught up or `limit` rows were given. A
   * stream cut mid-way is resumed after the last whole row, so no row is lost or given
   * twice; keep the last row's `cursor` to continue later.
   */
  async *exportTraining(options: TrainingExportOptions): AsyncGenerator<TrainingRow> {
    const { signal } = options;
    const pageSize = options.pageSize ?? DEFAULT_EXPORT_PAGE_SIZE;
    let remaining = options.limit ?? Number.POSITIVE_INFINITY;
    let cursor = options.cursor;
    let breaks = 0;
    while (remaining > 0) {
      const asked = Math.min(pageSize, remaining);
      const query: TrainingExportQuery = { stage: options.stage, limit: asked };
      if (options.tenant !== undefined) query.tenant = options.tenant;
      if (cursor !== undefined) query.cursor = cursor;
      else if (options.since !== undefined)
        query.since = options.since instanceof Date ? options.since.toISOString() : options.since;
      const request = 'GET /v1/feedback/export';
      const { data } = await this.call(
        request,
        'always',
        () => this.api.GET('/v1/feedback/export', { params: { query }, parseAs: 'stream', signal }),
        signal,
      );
      if (!data) return;
      let given = 0;
      try {
        for await (const line of readJsonLines(data)) {
          const row = JSON.parse(line) as TrainingRow;
          cursor = row.cursor;
          given += 1;
          remaining -= 1;
          yield row;
        }
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (!(error instanceof TruncatedBodyError)) throw error;
        breaks += 1;
        if (!(await this.retrier.backOff(request, breaks, error, signal))) {
          throw new ConnectionError(`${request}: the export kept breaking off (${error.message})`, {
            cause: error,
          });
        }
        continue; // from the last whole row
      }
      // Fewer rows than asked: nothing more has been annotated yet.
      if (given < asked) return;
    }
  }

  /**
   * Follows a generation until it ends and answers its final state, whatever that is
   * (check `status`). Over Server-Sent Events, resuming with Last-Event-ID when the
   * connection drops; by polling when the stream cannot be followed.
   */
  async wait(id: string, options: WaitOptions = {}): Promise<Generation> {
    if (options.transport !== 'poll') {
      try {
        return await this.follow(id, options);
      } catch (error) {
        if (!(error instanceof EventStreamError) || options.signal?.aborted) throw error;
        options.onFallback?.(error);
      }
    }
    return this.poll(id, options);
  }

  private async follow(id: string, options: WaitOptions): Promise<Generation> {
    let lastEventId: string | undefined;
    let reconnectDelayMs = DEFAULT_RECONNECT_DELAY_MS;
    let silentConnections = 0;
    for (;;) {
      const abort = new AbortController();
      const onAbort = () => abort.abort(options.signal?.reason);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const header: Record<string, string> = { accept: 'text/event-stream' };
        if (lastEventId !== undefined) header['last-event-id'] = lastEventId;
        const { data, response } = await this.call(
          `GET /v1/generations/${id}/events`,
          'always',
          () =>
            this.api.GET('/v1/generations/{id}/events', {
              params: { path: { id }, header },
              parseAs: 'stream',
              signal: abort.signal,
            }),
          abort.signal,
        );
        // 204: the generation ended and nothing follows the last event seen.
        if (response.status === 204 || !data) return await this.get(id, options);
        if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
          await data.cancel().catch(() => undefined);
          throw new EventStreamError(`the events route answered ${response.headers.get('content-type')}`);
        }
        let delivered = false;
        try {
          for await (const update of readGenerationEvents(data, {
            abort,
            ...(options.idleTimeoutMs !== undefined ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
            onRetryDelay: (ms) => {
              reconnectDelayMs = ms;
            },
          })) {
            delivered = true;
            if (update.id !== undefined) lastEventId = update.id;
            options.onUpdate?.(update);
            if (isTerminal(update.generation.status)) return update.generation;
          }
        } catch (error) {
          if (options.signal?.aborted) throw options.signal.reason;
          if (error instanceof EventStreamError) throw error;
          // The connection dropped: reconnect below and resume after lastEventId.
        }
        silentConnections = delivered ? 0 : silentConnections + 1;
        if (silentConnections > (options.maxReconnects ?? 5)) {
          throw new EventStreamError('the event stream keeps closing without events');
        }
      } finally {
        options.signal?.removeEventListener('abort', onAbort);
      }
      await this.sleep(reconnectDelayMs, options.signal);
    }
  }

  private async poll(id: string, options: WaitOptions): Promise<Generation> {
    let seen = '';
    for (;;) {
      const generation = await this.get(id, options);
      const state = JSON.stringify([generation.status, generation.progress, generation.preview]);
      if (state !== seen) {
        seen = state;
        options.onUpdate?.({ event: 'poll', generation });
      }
      if (isTerminal(generation.status)) return generation;
      await this.sleep(options.pollIntervalMs ?? 1000, options.signal);
    }
  }

  /** One output image, as stored. */
  async downloadOutput(id: string, index: number, options: CallOptions = {}): Promise<Download> {
    const { data, response } = await this.call(
      `GET /v1/generations/${id}/outputs/${index}`,
      'always',
      () =>
        this.api.GET('/v1/generations/{id}/outputs/{index}', {
          params: { path: { id, index } },
          parseAs: 'arrayBuffer',
          signal: options.signal,
        }),
      options.signal,
    );
    return { bytes: new Uint8Array(data), contentType: response.headers.get('content-type') ?? '' };
  }

  /** The layout preview (PNG); NotFoundError until the planner has drawn it. */
  async downloadPreview(id: string, options: CallOptions = {}): Promise<Download> {
    const { data, response } = await this.call(
      `GET /v1/generations/${id}/preview`,
      'always',
      () =>
        this.api.GET('/v1/generations/{id}/preview', {
          params: { path: { id } },
          parseAs: 'arrayBuffer',
          signal: options.signal,
        }),
      options.signal,
    );
    return { bytes: new Uint8Array(data), contentType: response.headers.get('content-type') ?? '' };
  }

  /** One reference image of an image-to-image generation, as it was sent. */
  async downloadReference(id: string, index: number, options: CallOptions = {}): Promise<Download> {
    const { data, response } = await this.call(
      `GET /v1/generations/${id}/references/${index}`,
      'always',
      () =>
        this.api.GET('/v1/generations/{id}/references/{index}', {
          params: { path: { id, index } },
          parseAs: 'arrayBuffer',
          signal: options.signal,
        }),
      options.signal,
    );
    return { bytes: new Uint8Array(data), contentType: response.headers.get('content-type') ?? '' };
  }

  /**
   * Any image URL a generation carries: the API's own routes (sent with the key) or a
   * public object-store URL (sent without it, so the key never leaves for another host).
   */
  async download(url: string, options: CallOptions = {}): Promise<Download> {
    const target = new URL(url, this.baseUrl);
    const headers: Record<string, string> = {};
    if (target.origin === new URL(this.baseUrl).origin) headers['authorization'] = this.authorization;
    const result = await this.retrier.run(
      `GET ${target.pathname}`,
      'always',
      async () => ({
        response: await this.fetchFn(new Request(target, { headers, signal: options.signal })),
      }),
      options.signal,
    );
    const { response } = result;
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw apiErrorFrom(response, body);
    }
    return {
      bytes: new Uint8Array(await response.arrayBuffer()),
      contentType: response.headers.get('content-type') ?? '',
    };
  }
}
