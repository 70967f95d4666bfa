/**
 * One webhook POST over node:http/https with the SSRF guard in the socket's `lookup`,
 * a deadline, and redirects followed by hand so every hop passes the same guard.
 * Only the status and a few headers of the answer count: of its body at most
 * MAX_DRAINED_BYTES are read, within the same deadline, and then the connection is
 * closed, so a receiver that streams a huge body, or trickles one forever, costs a
 * delivery neither memory nor time.
 */
import http from 'node:http';
import https from 'node:https';
import { WebhookTimeoutError, WebhookTooManyRedirectsError } from './errors.ts';
import type { SsrfGuard } from './ssrf-guard.ts';

export interface WebhookPostRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  /** Deadline for each hop, from connect until the response headers arrive; the body read gets as long again. */
  timeoutMs: number;
  maxRedirects?: number;
}

export interface WebhookPostResponse {
  status: number;
  /** The raw Retry-After header, if any. */
  retryAfter: string | undefined;
  /** The URL that produced `status` (differs from the request's after redirects). */
  finalUrl: string;
  redirects: number;
}

/** Receivers are expected to answer within seconds (Standard Webhooks suggests 15 s at most). */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const DEFAULT_MAX_REDIRECTS = 3;
/** Receivers' response bodies are not used; read a little so small bodies end cleanly, then hang up. */
const MAX_DRAINED_BYTES = 64 * 1024;

/**
 * POSTs `body`; resolves with the first non-redirect status, rejects on a refused target
 * (`WebhookTargetRefusedError`), a timeout, too many redirects or a network error. A
 * redirect re-sends the same signed POST (the signature covers id, timestamp and body,
 * not the URL), because a webhook must arrive as a POST to be useful at all.
 */
export async function postWebhook(
  guard: SsrfGuard,
  request: WebhookPostRequest,
): Promise<WebhookPostResponse> {
  const maxRedirects = request.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  let url = guard.checkUrl(request.url);
  for (let redirects = 0; ; redirects++) {
    const response = await postOnce(guard, url, request);
    const location = response.location;
    if (!REDIRECT_STATUSES.has(response.status) || location === undefined) {
      return {
        status: response.status,
        retryAfter: response.retryAfter,
        finalUrl: url.toString(),
        redirects,
      };
    }
    if (redirects >= maxRedirects) throw new WebhookTooManyRedirectsError(maxRedirects);
    url = guard.checkUrl(new URL(location, url));
  }
}

interface HopResponse {
  status: number;
  retryAfter: string | undefined;
  location: string | undefined;
}

function postOnce(guard: SsrfGuard, url: URL, request: WebhookPostRequest): Promise<HopResponse> {
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<HopResponse>((resolve, reject) => {
    const req = transport.request(
      url,
      {
        method: 'POST',
        headers: {
          ...request.headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(request.body)),
          'user-agent': 'glm-image-webhooks/1',
        },
        lookup: guard.lookup,
        // A private agent per request: a pooled socket opened for another target (or under
        // another guard) must never be reused without this guard's connect-time check.
        agent: false,
      },
      (res) => {
        clearTimeout(timer);
        const header = (name: string) => {
          const value = res.headers[name];
          return Array.isArray(value) ? value[0] : value;
        };
        resolve({
          status: res.statusCode ?? 0,
          retryAfter: header('retry-after'),
          location: header('location'),
        });
        // Counted and dropped, never kept; a body that does not end in time is cut off.
        let drained = 0;
        const bodyTimer = setTimeout(() => res.destroy(), request.timeoutMs);
        res.on('data', (chunk: Buffer) => {
          drained += chunk.length;
          if (drained > MAX_DRAINED_BYTES) res.destroy();
        });
        res.on('close', () => clearTimeout(bodyTimer));
        res.on('error', () => {});
      },
    );
    const timer = setTimeout(
      () => req.destroy(new WebhookTimeoutError(request.timeoutMs)),
      request.timeoutMs,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(request.body);
  });
}
