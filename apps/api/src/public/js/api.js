/**
 * The API as the page uses it: every call carries the key in the Authorization header
 * (never in a URL, where it would end up in logs), and every failure becomes an ApiError
 * with the API's own code and message.
 */

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the request never got an answer)
   * @param {string} code the API's error code
   * @param {string} message the API's message, as it words it
   * @param {number | null} retryAfter seconds, from Retry-After
   */
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  /** The error an answer carries: `{ error: { code, message } }`, or its status line. */
  static async from(response) {
    const header = response.headers.get('retry-after');
    const retryAfter = header && /^\d+$/.test(header) ? Number(header) : null;
    let body = null;
    try {
      body = await response.json();
    } catch {
      // Not the API's JSON (a proxy's page): the status line is all there is.
    }
    const error = body?.error;
    if (error && typeof error.code === 'string' && typeof error.message === 'string') {
      return new ApiError(response.status, error.code, error.message, retryAfter);
    }
    return new ApiError(
      response.status,
      `http_${response.status}`,
      response.statusText || 'Request failed',
      retryAfter,
    );
  }
}

/**
 * A random Idempotency-Key. crypto.randomUUID exists only in secure contexts (https,
 * localhost); a playground opened over plain http on another host builds the same
 * version-4 UUID from getRandomValues, which exists everywhere.
 */
export function newIdempotencyKey() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The API's own routes for a generation's images; other URLs are a published bucket's. */
const IMAGE_ROUTE = /^\/v1\/generations\/[^/]+\/(outputs\/\d+|preview|references\/\d+)$/;

/**
 * The path on this API of an image URL the API returned, or null for a public bucket URL.
 * Only the path is kept: the key goes to the origin that served this page and nowhere else,
 * whatever host the API put in its links.
 */
export function apiImagePath(url) {
  const target = new URL(url, location.href);
  if (target.origin === location.origin || IMAGE_ROUTE.test(target.pathname)) {
    return target.pathname + target.search;
  }
  return null;
}

export class Api {
  /** @param {() => string} key reads the current key each time, so a new key applies at once */
  constructor(key) {
    this.key = key;
  }

  authHeaders() {
    const key = this.key();
    return key ? { authorization: `Bearer ${key}` } : {};
  }

  async request(path, options = {}) {
    return (await this.send(path, options)).json();
  }

  /** The answer of a request that succeeded (2xx), for callers that read its status or headers. */
  async send(path, { method = 'GET', body, headers: extra = {} } = {}) {
    const headers = { accept: 'application/json', ...this.authHeaders(), ...extra };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch {
      throw new ApiError(0, 'network_error', 'The API could not be reached');
    }
    if (!response.ok) throw await ApiError.from(response);
    return response;
  }

  submit(body) {
    return this.request('/v1/generations', { method: 'POST', body });
  }

  get(id) {
    return this.request(`/v1/generations/${encodeURIComponent(id)}`);
  }

  list({ limit = 12, cursor } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set('cursor', cursor);
    return this.request(`/v1/generations?${query}`);
  }

  cancel(id) {
    return this.request(`/v1/generations/${encodeURIComponent(id)}/cancel`, { method: 'POST' });
  }

  render(id, body) {
    return this.request(`/v1/generations/${encodeURIComponent(id)}/renders`, { method: 'POST', body });
  }

  /**
   * A person's feedback on a generation, under one Idempotency-Key per click: when no
   * answer came it is sent once more under the same key, which stores it at most once.
   * Answers the stored feedback and whether it was stored before (a replay, 200).
   */
  async feedback(id, body) {
    const request = {
      method: 'POST',
      body,
      headers: { 'idempotency-key': newIdempotencyKey() },
    };
    const path = `/v1/generations/${encodeURIComponent(id)}/feedback`;
    let response;
    try {
      response = await this.send(path, request);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 0) throw error;
      response = await this.send(path, request);
    }
    return { feedback: await response.json(), replayed: response.status === 200 };
  }

  eventsPath(id) {
    return `/v1/generations/${encodeURIComponent(id)}/events`;
  }

  /** An image the API streams (a path from apiImagePath), as a Blob: an <img> cannot send the key itself. */
  async blob(path) {
    let response;
    try {
      response = await fetch(path, { headers: this.authHeaders() });
    } catch {
      throw new ApiError(0, 'network_error', 'The API could not be reached');
    }
    if (!response.ok) throw await ApiError.from(response);
    return response.blob();
  }
}
