import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { AppError, ForbiddenError, UnauthorizedError } from '@glm-image/shared/errors';
import { createQueue, type QueueKind } from '@glm-image/shared/queues';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type AuthOptions, failureLimit, type KeyRegistry } from '../plugins/auth.ts';
import { sendError } from '../plugins/errors.ts';

/**
 * Bull Board at /admin/queues: the plan, decode and webhook queues for operators, behind
 * an admin key. A browser cannot send a bearer token, so the key is also accepted as the
 * Basic-auth password (any user name), and a 401 here carries a Basic challenge so the
 * browser asks for it. The board is read-only: a generation changes only through its
 * lifecycle, and a job retried, removed or promoted by hand would change it behind the
 * lifecycle's back. Its routes are hidden from the OpenAPI document.
 */

export const DASHBOARD_PATH = '/admin/queues';
export const DASHBOARD_QUEUES: readonly QueueKind[] = ['plan', 'decode', 'webhook'];
const BASIC_CHALLENGE = 'Basic realm="GLM-Image queues", charset="UTF-8"';

export interface QueueDashboardOptions {
  keys: KeyRegistry;
  failures: AuthOptions['failures'];
}

/** The key from `Authorization: Bearer <key>` or from the password of `Authorization: Basic`. */
export function presentedKey(authorization: string | undefined): string | null {
  const [scheme, credentials] = (authorization ?? '').trim().split(/\s+/, 2);
  if (!scheme || !credentials) return null;
  if (/^bearer$/i.test(scheme)) return credentials;
  if (!/^basic$/i.test(scheme)) return null;
  const decoded = Buffer.from(credentials, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : decoded.slice(colon + 1) || null;
}

/** `{ error: { code, message } }` and nothing else, as the API sends every error. */
function isApiErrorBody(payload: unknown): boolean {
  if (typeof payload !== 'string') return false;
  try {
    const body = JSON.parse(payload) as { error?: { code?: unknown; message?: unknown } };
    return (
      Object.keys(body).length === 1 &&
      typeof body.error?.code === 'string' &&
      typeof body.error.message === 'string'
    );
  } catch {
    return false;
  }
}

const DASHBOARD_ERROR_CODES: Readonly<Record<number, string>> = {
  400: 'invalid_input',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
};

/** A Bull Board refusal, named by its own key (`ERRORS.JOB_NOT_FOUND` becomes "job not found"). */
export function dashboardError(status: number, payload: unknown): AppError {
  let key: string | undefined;
  try {
    key = (JSON.parse(String(payload)) as { error?: { key?: unknown } }).error?.key as string | undefined;
  } catch {
    key = undefined;
  }
  const what =
    typeof key === 'string'
      ? key
          .replace(/^ERRORS\./, '')
          .replace(/_/g, ' ')
          .toLowerCase()
      : null;
  const code = DASHBOARD_ERROR_CODES[status] ?? (status >= 500 ? 'internal_error' : 'invalid_input');
  return new AppError(code, `Queue dashboard: ${what ?? `refused with status ${status}`}`);
}

export async function queueDashboardRoutes(app: FastifyInstance, options: QueueDashboardOptions) {
  // Bull Board sets its own error handler for its routes, so a refusal is sent here
  // rather than thrown: it leaves in the API's error format either way.
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const key = presentedKey(request.headers.authorization);
    const principal = key ? options.keys.resolve(key) : null;
    if (!principal) {
      const limited = await failureLimit(options.failures, request.ip);
      if (!limited) reply.header('www-authenticate', BASIC_CHALLENGE);
      return sendError(reply, limited ?? new UnauthorizedError());
    }
    if (!principal.admin)
      return sendError(reply, new ForbiddenError('The queue dashboard needs an admin key'));
  });

  // Bull Board answers its own refusals as `{ error: { key } }` (a job that does not
  // exist, a write to a read-only queue, a bad query): they leave in the API's format too.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode < 400 || isApiErrorBody(payload)) return payload;
    reply.type('application/json; charset=utf-8');
    return JSON.stringify(dashboardError(reply.statusCode, payload).toJSON());
  });

  const queues = DASHBOARD_QUEUES.map((kind) => createQueue(kind, app.redis, app.queues.settings));
  app.addHook('onClose', async () => {
    await Promise.allSettled(queues.map((queue) => queue.close()));
  });
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
    // @bull-board/fastify pins its own patch release of @bull-board/api: the two copies'
    // class declarations differ in name only (private fields), not in what the board calls.
    serverAdapter: serverAdapter as unknown as Parameters<typeof createBullBoard>[0]['serverAdapter'],
    options: { uiConfig: { boardTitle: 'GLM-Image queues' } },
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PATH });
}
